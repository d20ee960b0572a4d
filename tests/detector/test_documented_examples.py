"""The three examples of docs/detector-rules.md, as one document, do what the documentation says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.detector.conftest import HOUR, add, by_job

DOCS = Path(__file__).resolve().parents[2] / "docs" / "detector-rules.md"
CLUSTER = "ehpc-hz-FYUr32a1b2"  # the cluster id the examples use
OTHER = "ehpc-hz-other01"


def _combined_json() -> str:
    blocks: list[str] = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    [document] = [b for b in blocks if '"rules"' in b and '"scan"' not in b]
    return document


def test_the_three_documented_rules_on_one_cluster(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., Any], clock: list[int]
) -> None:
    # given the documented document, two detector clusters, and one job for each story (and near misses)
    settings_env(detector_rules=_combined_json(), detector_clusters=f"{CLUSTER},{OTHER}")
    for cluster in (CLUSTER, OTHER):
        sim.add_cluster(cluster)
    add(sim, CLUSTER, "etl-late", owner="etl", name="nightly-load", running=7 * HOUR)
    add(sim, CLUSTER, "etl-ok", owner="etl", name="nightly-load", running=5 * HOUR)
    add(sim, CLUSTER, "mpi-hung", name="mpi-cfd", running=5 * HOUR, unchanged=3 * HOUR)
    add(sim, CLUSTER, "mpi-quiet-ok", name="mpi-cfd-long", running=9 * HOUR, unchanged=9 * HOUR)
    add(sim, OTHER, "waiting", state="QUEUED", queued=25 * HOUR)
    add(sim, OTHER, "bench-wait", state="QUEUED", owner="benchmark", queued=50 * HOUR)
    # when the timer fires
    result = invoke({"triggerTime": "2026-11-25T12:00:00Z", "triggerName": "every-10m", "payload": ""})
    # then the late nightly job is rerun, the hung MPI job is only reported, the day-old queued job is rerun
    outcomes = {key: (o["status"], o["rule"]) for key, o in by_job(result).items()}
    assert outcomes == {
        f"{CLUSTER}/etl-late": ("rerun", "nightly-etl"),
        f"{CLUSTER}/mpi-hung": ("dry_run", "hung-mpi"),
        f"{OTHER}/waiting": ("rerun", "queued-a-day"),
    }
    assert sorted(sim.rerun_job_ids()) == ["etl-late", "waiting"]
    assert json.loads(_combined_json())["rules"][1]["report_only"] is True
