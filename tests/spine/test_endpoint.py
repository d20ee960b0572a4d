"""Which E-HPC endpoint the SDK is pointed at."""

from __future__ import annotations

from ehpc_rerun.ehpc.client import endpoint_for
from ehpc_rerun.settings import Settings


def test_public_endpoint_of_the_region_by_default() -> None:
    assert endpoint_for(Settings(), "cn-shanghai") == ("ehpc.cn-shanghai.aliyuncs.com", "https")


def test_vpc_endpoint_by_setting() -> None:
    assert endpoint_for(Settings(use_vpc_endpoint=True), "cn-hangzhou") == (
        "ehpc-vpc.cn-hangzhou.aliyuncs.com",
        "https",
    )


def test_override_url_wins_and_keeps_its_scheme_and_port() -> None:
    settings = Settings(endpoint="http://127.0.0.1:8080")  # type: ignore[arg-type]
    assert endpoint_for(settings, "cn-hangzhou") == ("127.0.0.1:8080", "http")
