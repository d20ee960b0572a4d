"""History scenarios: the real handler against the simulator, on every store (the exactly-once fixtures:
a real SQLite file, a real redis-server, the local Tablestore server), the clock moved by the tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ehpc_rerun import app, cli, instance
from ehpc_rerun.policy import job_history
from ehpc_rerun.state.base import Doc
from tests.conftest import CLUSTER, KEY_ID, SECRET, TOKEN, http_event
from tests.exactly_once.conftest import (
    clock,
    crash_after_the_call,
    mns_event,
    shared_store,
    tablestore_for_handler,
)

__all__ = ["clock", "crash_after_the_call", "mns_event", "shared_store", "tablestore_for_handler"]

Invoke = Callable[..., dict[str, Any]]
MINUTES = 60_000
HOURS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso(ms: int) -> str:
    """UTC with milliseconds, computed apart from the code under test."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def history_get(job_id: str, cluster: str = CLUSTER, *, prefix: str = "", **kwargs: Any) -> dict[str, Any]:
    """GET [prefix]/jobs/{cluster}/{job} as FC's HTTP trigger passes it."""
    path = f"{prefix}/jobs/{cluster}/{job_id}"
    return http_event(None, method="GET", path=path, content_type=None, **kwargs)


def stored_doc(job_id: str, now_ms: int, region: str = "cn-hangzhou") -> Doc | None:
    """The job's history document as the function's own store holds it (read at ``now_ms``)."""
    key = job_history.doc_key(job_history.job_key(region, CLUSTER, job_id))
    return instance.store(app.settings()).read_docs([key], now_ms=now_ms).get(key)


@pytest.fixture
def cli_clock(monkeypatch: pytest.MonkeyPatch, clock: list[int]) -> list[int]:
    """``ehpc-rerun history`` on the function's clock, with the function's credentials in the environment
    (a Tablestore store signs with the ALIBABA_CLOUD_* variables outside FC)."""
    monkeypatch.setattr(cli, "_now_ms", lambda: clock[0])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
    return clock
