"""Detector fixtures: a fixed clock, clusters of jobs of chosen ages, rules set through the environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.simulator import Simulator

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
A = "ehpc-hz-detA01"
B = "ehpc-hz-detB02"
C = "ehpc-hz-detC03"
HOUR = 3600


def ago(seconds: float, fmt: str = "%Y-%m-%dT%H:%M:%S.000Z") -> str:
    """The raw time string ListJobs would return for ``seconds`` before NOW (UTC)."""
    return (NOW - timedelta(seconds=seconds)).strftime(fmt)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The handler's clock, fixed at NOW; tests move it by changing clock[0]."""
    now = [NOW_MS]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


@pytest.fixture
def clusters(sim: Simulator) -> Simulator:
    """Three empty detector clusters (besides the shared fixture's busy one, never scanned here)."""
    for cluster in (A, B, C):
        sim.add_cluster(cluster)
    return sim


@pytest.fixture
def use_rules(settings_env: Callable[..., None], clock: list[int]) -> Callable[..., None]:
    """Set the rule document (JSON) and other settings, as an operator would."""

    def configure(rules: list[dict[str, Any]], **settings: Any) -> None:
        settings_env(detector_rules=json.dumps({"rules": rules}), **settings)

    return configure


@pytest.fixture
def scan(invoke: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A detector scan through the real handler (direct invoke ``{"scan": {...}}``)."""

    def run(**request: Any) -> dict[str, Any]:
        return invoke({"scan": request})

    return run


def by_job(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Outcomes keyed by ``cluster/job`` (``cluster/None`` for cluster-wide ones)."""
    return {f"{o['cluster_id']}/{o['job_id']}": o for o in result["outcomes"]}


def listed_pages(sim: Simulator, cluster: str) -> list[str]:
    return [c.query.get("PageNumber", "") for c in sim.calls_for("ListJobs") if c.cluster_id == cluster]


def add(
    sim: Simulator,
    cluster: str,
    job_id: str,
    *,
    state: str = "RUNNING",
    running: float | None = None,
    queued: float | None = None,
    unchanged: float | None = None,
    owner: str = "user1",
    name: str = "job",
    **raw: str,
) -> None:
    """A job whose ages (seconds before NOW) are given; ``raw`` overrides a time string as E-HPC sends it.

    RUNNING: started ``running`` ago (default 60 s), submitted a minute before, unchanged since it started.
    QUEUED: submitted ``queued`` ago (default 60 s), no StartTime, unchanged since it was submitted.
    """
    if state == "RUNNING":
        started = 60.0 if running is None else running
        times = {"start_time": ago(started), "submit_time": ago(started + 60)}
        since = started
    else:
        submitted = 60.0 if queued is None else queued
        times = {"start_time": "", "submit_time": ago(submitted)}
        since = submitted
    times["last_modify_time"] = ago(since if unchanged is None else unchanged)
    times.update(raw)
    sim.add_job(cluster, job_id, state=state, owner=owner, name=name, **times)
