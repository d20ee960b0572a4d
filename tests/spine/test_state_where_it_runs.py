"""Inside Function Compute, per-instance state is refused unless explicitly accepted (issue: no
per-instance state by accident). FC is recognised by FC_FUNCTION_NAME / FC_INSTANCE_ID."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.settings import load_settings
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.state.placement import check_placement, in_function_compute
from tests.conftest import CLUSTER, request, statuses

Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def in_fc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables FC sets in every instance ("Configure environment variables")."""
    monkeypatch.setenv("FC_FUNCTION_NAME", "ehpc-rerun")
    monkeypatch.setenv("FC_INSTANCE_ID", "c-6753ed3f-0123456789abcdef")


def _rerun_calls(sim: Simulator) -> int:
    return sum(1 for call in sim.calls if call.action == "RerunJobs")


@pytest.mark.parametrize("state", [None, "sqlite:////tmp/ehpc-rerun-test/state.db"])
def test_in_fc_a_private_store_stops_initialisation_with_how_to_fix_it(
    state: str | None, in_fc: None, monkeypatch: pytest.MonkeyPatch, settings_env: Callable[..., None]
) -> None:
    # given FC's variables and either no store or a SQLite file
    if state is None:
        monkeypatch.delenv("EHPC_RERUN_STATE")
    else:
        settings_env(state=state)
    app.reset()
    # when the instance initialises
    with pytest.raises(ConfigError) as caught:
        app.initialize(None)
    # then it refuses, naming the variable, the reason and both ways out
    assert caught.value.code == "UnsafeStateStore"
    message = caught.value.message
    assert "EHPC_RERUN_STATE" in message
    assert "private to each instance" in message
    assert "tablestore://" in message
    assert "EHPC_RERUN_ALLOW_LOCAL_STATE=true" in message


def test_in_fc_with_a_private_store_no_event_is_ever_handled(
    in_fc: None, settings_env: Callable[..., None], invoke: Invoke, sim: Simulator
) -> None:
    # given FC's variables and a SQLite store, with no opt-in
    settings_env(state="sqlite:////tmp/ehpc-rerun-test/state.db")
    # when an event arrives (every invocation initialises first)
    for _ in range(2):
        with pytest.raises(ConfigError, match="EHPC_RERUN_STATE"):
            invoke(request(["1.scheduler"]))
    # then E-HPC was never called
    assert sim.calls == []


def test_in_fc_the_explicit_opt_in_accepts_per_instance_state(
    in_fc: None, settings_env: Callable[..., None], invoke: Invoke, sim: Simulator
) -> None:
    # given FC's variables, a SQLite store and EHPC_RERUN_ALLOW_LOCAL_STATE=true
    settings_env(allow_local_state="true")
    # when an event arrives
    result = invoke(request(["1.scheduler"]))
    # then the job is rerun
    assert statuses(result) == {f"{CLUSTER}/1.scheduler": "rerun"}
    assert _rerun_calls(sim) == 1


def test_in_fc_a_shared_redis_store_is_accepted(
    in_fc: None, settings_env: Callable[..., None], invoke: Invoke, sim: Simulator, redis_url: str
) -> None:
    # given FC's variables and a Redis store
    settings_env(state=redis_url)
    # when an event arrives
    result = invoke(request(["2.scheduler"]))
    # then it is handled normally
    assert statuses(result) == {f"{CLUSTER}/2.scheduler": "rerun"}
    assert _rerun_calls(sim) == 1


def test_outside_fc_the_embedded_sqlite_default_stays(
    monkeypatch: pytest.MonkeyPatch,
    settings_env: Callable[..., None],
    invoke: Invoke,
    sim: Simulator,
    tmp_path: Path,
) -> None:
    # given no FC variables (FC_REGION alone is set by local tools, and does not count) and no store
    monkeypatch.delenv("FC_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("FC_INSTANCE_ID", raising=False)
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.delenv("EHPC_RERUN_STATE")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app.reset()
    # when an event arrives
    result = invoke(request(["3.scheduler"]))
    # then the default SQLite store in the temp dir is used and the job rerun
    assert statuses(result) == {f"{CLUSTER}/3.scheduler": "rerun"}
    assert (tmp_path / "ehpc-rerun" / "state.db").is_file()


@pytest.mark.parametrize(
    ("environ", "inside"),
    [
        ({}, False),
        ({"FC_REGION": "cn-hangzhou"}, False),
        ({"FC_FUNCTION_NAME": "f"}, True),
        ({"FC_INSTANCE_ID": "c-1"}, True),
        ({"FC_FUNCTION_NAME": ""}, False),
    ],
)
def test_fc_is_recognised_by_its_instance_variables(environ: dict[str, str], inside: bool) -> None:
    assert in_function_compute(environ) is inside


@pytest.mark.parametrize(
    "url",
    [
        "tablestore://inst.cn-hangzhou.ots.aliyuncs.com/inst/ehpc_rerun_state",
        "tablestore+http://127.0.0.1:8000/inst/t",
        "redis://10.0.0.1:6379/0",
        "rediss://r-x.redis.rds.aliyuncs.com:6380/0",
    ],
)
def test_shared_stores_pass_the_placement_check_inside_fc(url: str) -> None:
    check_placement(url, allow_local_state=False, environ={"FC_FUNCTION_NAME": "f"})


@pytest.mark.parametrize(
    "url",
    [
        "tablestore://host.example/only-instance",
        "tablestore+http://10.0.0.1:8000/inst/t",
        "tablestore://user:pw@inst.cn-hangzhou.ots.aliyuncs.com/inst/t",
    ],
)
def test_a_malformed_tablestore_url_stops_initialisation_naming_the_variable(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given EHPC_RERUN_STATE with a Tablestore URL that names no table, leaves the machine over plain
    # HTTP, or carries credentials
    monkeypatch.setenv("EHPC_RERUN_STATE", url)
    # when the settings are loaded / then they are refused, naming the variable (and no password)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "EHPC_RERUN_STATE" in caught.value.message
    assert "pw@" not in caught.value.message
