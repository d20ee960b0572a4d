"""Exactly-once scenarios run on every store: a real SQLite file, a real redis-server, the local
Tablestore server (each accepting the function's own test credentials)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app, pipeline
from ehpc_rerun.otsserver import TablestoreServer
from tests.conftest import CLUSTER, KEY_ID, SECRET, TOKEN


class Crash(BaseException):
    """The instance dies here: nothing after this point runs (not an Exception: nothing catches it)."""


@pytest.fixture(scope="session")
def tablestore_for_handler() -> Iterator[TablestoreServer]:
    with TablestoreServer(access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN) as server:
        yield server


@pytest.fixture(params=["sqlite", "redis", "tablestore"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path, settings_env: Callable[..., None]) -> str:
    """EHPC_RERUN_STATE for a fresh store of each kind, set for the handler."""
    if request.param == "redis":
        url = str(request.getfixturevalue("redis_url"))
    elif request.param == "tablestore":
        server: TablestoreServer = request.getfixturevalue("tablestore_for_handler")
        table = f"t{time.monotonic_ns()}"
        server.create_table(table)
        url = server.url.rsplit("/", 1)[0] + f"/{table}"
    else:
        url = f"sqlite:///{tmp_path / 'state.db'}"
    settings_env(state=url)
    return url


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The function's clock, starting now (the simulator stamps jobs with the real time)."""
    now = [int(time.time() * 1000)]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


def mns_event(event_id: str, jobs: list[str], cluster: str = CLUSTER) -> list[dict[str, Any]]:
    """One MNS queue message through EventBridge (events/eventbridge-mns-queue.json's shape)."""
    body = json.dumps({"cluster_id": cluster, "job_ids": jobs})
    return [
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "MNS-ehpc-rerun-mns-queue",
            "type": "mns:Queue:SendMessage",
            "subject": "acs:mns:cn-hangzhou:123456789:queues/ehpc-stuck-jobs",
            "datacontenttype": "application/json; charset=utf-8",
            "time": "2026-12-01T06:28:17.093Z",
            "data": {"requestId": "606E", "messageId": "C6DB", "messageBody": body},
        }
    ]


@pytest.fixture
def crash_after_the_call(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any], Any], None]:
    """Deliver an event to an instance that dies right after E-HPC answered, before anything is recorded."""

    def deliver(invoke: Callable[..., Any], event: Any) -> None:
        def die(*args: Any, **kwargs: Any) -> None:
            raise Crash

        original = pipeline._settle
        monkeypatch.setattr(pipeline, "_settle", die)
        try:
            with pytest.raises(Crash):
                invoke(event)
        finally:
            monkeypatch.setattr(pipeline, "_settle", original)

    return deliver
