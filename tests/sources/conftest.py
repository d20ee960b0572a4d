"""Fixtures for the source (trigger unwrapping) tests: the events/ sample files and HTTP event builders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ehpc_rerun.models import Acknowledged, RecordError, RerunRequest
from ehpc_rerun.settings import Settings
from ehpc_rerun.sources.base import Unwrapped
from ehpc_rerun.sources.detect import unwrap_event
from tests.conftest import http_event as http_event  # re-exported for the source tests

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
EVENT_FILES = sorted(p.name for p in EVENTS_DIR.iterdir() if p.suffix in (".json", ".txt"))

HTTP_SECRET = "test-shared-secret-not-real-0123456789"
ALERT_TOKEN = "test-alert-token-not-real-0123456789abcdef"
CLUSTER = "ehpc-hz-test01"


def load_event(name: str) -> bytes:
    """An events/ file exactly as FC passes it: bytes."""
    return (EVENTS_DIR / name).read_bytes()


def load_event_json(name: str) -> Any:
    return json.loads(load_event(name))


def as_bytes(event: Any) -> bytes:
    return json.dumps(event).encode()


def unwrap(event: Any, settings: Settings | None = None) -> Unwrapped:
    """unwrap_event on the event as FC would pass it (bytes)."""
    raw = event if isinstance(event, bytes) else as_bytes(event)
    return unwrap_event(raw, settings or Settings())


def requests_of(unwrapped: Unwrapped) -> list[RerunRequest]:
    return [r for r in unwrapped.records if isinstance(r, RerunRequest)]


def errors_of(unwrapped: Unwrapped) -> list[RecordError]:
    return [r for r in unwrapped.records if isinstance(r, RecordError)]


def acks_of(unwrapped: Unwrapped) -> list[Acknowledged]:
    return [r for r in unwrapped.records if isinstance(r, Acknowledged)]


def jobs(unwrapped: Unwrapped) -> list[tuple[str, tuple[str, ...]]]:
    """(cluster, job ids) of every RerunRequest, in order."""
    return [(r.cluster_id, r.job_ids) for r in requests_of(unwrapped)]


def request_body(job_ids: list[str], cluster: str = CLUSTER, **extra: Any) -> str:
    return json.dumps({"cluster_id": cluster, "job_ids": job_ids, **extra})


def alert_form(state: str = "ALERT", cluster: str = CLUSTER, job: str = "4.scheduler", **extra: str) -> str:
    """A CloudMonitor threshold-alert callback body (fc-events.md §2.5 (i)), form-urlencoded."""
    from urllib.parse import urlencode

    fields = {
        "alertName": "E-HPC job heartbeat stalled",
        "alertState": state,
        "curValue": "0",
        "dimensions": f"{{userId=110803419679****, clusterId={cluster}, jobId={job}}}",
        "expression": "$Maximum<=0",
        "metricName": "job_heartbeat",
        "regionId": "cn-hangzhou",
        "transId": "53767d2a-ae72-11ed-b2ca-00163e2c0099",
        **extra,
    }
    return urlencode(fields)


@pytest.fixture
def event_bytes() -> Callable[[str], bytes]:
    """Load an events/ file as bytes: ``event_bytes("http-json-request.json")``."""
    return load_event


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def anonymous() -> Settings:
    """Anonymous HTTP trigger with a shared secret and an alert token configured."""
    return Settings(
        http_auth="anonymous",
        http_secret=SecretStr(HTTP_SECRET),
        http_alert_token=SecretStr(ALERT_TOKEN),
    )


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() reads EHPC_RERUN_* variables: a developer's shell must not change these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("EHPC_RERUN_"):
            monkeypatch.delenv(name)
