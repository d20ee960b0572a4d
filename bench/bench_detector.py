"""Detector scan at scale: 50 clusters x 2 000 unfinished jobs, the simulator delaying every call by 50 ms.

One timer-style ``{"scan": {}}`` invocation of the real handler (warm process, in this process), the
simulator in its own process (as E-HPC is remote: its CPU is not ours). Figures:

* **ListJobs calls per cluster**: target exactly ceil(2000 / 50) = 40 (PageSize 50, pages 1..40 once);
* **wall / sequential sum** of the listing phase: target <= 1 / pool size + 10 % (relative, i.e.
  1.1 / P). The *in-run* sum adds up each cluster's own listing time measured during the parallel run;
  the *uncontended* sum is the mean time of a cluster listed alone (pool of 1) times 50, the stricter
  reading. The main figure uses a pool of 10 (50 clusters divide evenly); the default pool of 8 is shown
  too, whose best possible ratio is ceil(50 / 8) / 50 = 0.14 (7 rounds for 50 clusters), not 1/8 = 0.125:
  its target is that bound + 10 %.

Rules: one report-only rule (no RerunJobs, and so no pre-check ListJobs); 4 jobs per cluster match it and
the rule's cap of 100 leaves 100 over the cap, so requests, dry runs and cap outcomes all go through the
pipeline. Calls are counted and timed by wrapping the SDK's ``Client.list_jobs`` in this process.

``python bench/bench_detector.py`` prints the figures as JSON; ``run()`` returns them.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # bench/ is put on sys.path first when run as a script
    AK_ID,
    AK_SECRET,
    HANDLER,
    STS_TOKEN,
    UNTHROTTLED,
    Figure,
    figure,
    median,
    quiet_stdout,
    runs,
    settings_env,
    simulator_process,
)

if str(HANDLER) not in sys.path:
    sys.path.insert(0, str(HANDLER))

CLUSTERS = [f"ehpc-hz-det{c:03d}" for c in range(50)]
JOBS = 2000
PAGE = 50
LATENCY = 0.05
POOL = 10
DEFAULT_POOL = 8
BASELINE_CLUSTERS = 3
MATCHING_PER_CLUSTER = 4
RULE = {
    "name": "hung-mpi",
    "states": ["RUNNING"],
    "running_longer_than": "4h",
    "unchanged_for": "2h",
    "max_jobs_per_scan": 100,
    "report_only": True,
}


def _seed() -> dict[str, Any]:
    now = datetime.now(timezone.utc)

    def at(hours: float) -> str:
        return (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    clusters = []
    for cluster in CLUSTERS:
        jobs = []
        for n in range(JOBS):
            hung = n % (JOBS // MATCHING_PER_CLUSTER) == 7
            started, changed = (6 + n % 5, 3) if hung else (1 + n % 3, 0.2)
            jobs.append(
                {
                    "id": f"{n}.scheduler",
                    "state": "RUNNING",
                    "owner": f"user{n % 7}",
                    "name": f"mpi-{n}",
                    "submit_time": at(started + 0.5),
                    "start_time": at(started),
                    "last_modify_time": at(changed),
                }
            )
        clusters.append({"id": cluster, "jobs": jobs})
    return {"clusters": clusters}


class _Calls:
    """Every ListJobs page this process sends: (cluster, page, start, end), via the SDK client class."""

    def __init__(self) -> None:
        self.records: list[tuple[str, int, float, float]] = []
        self._lock = threading.Lock()

    @contextmanager
    def counting(self) -> Iterator[None]:
        from alibabacloud_ehpc20180412.client import Client

        original = Client.list_jobs

        def list_jobs(client: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(client, request)
            finally:
                ended = time.perf_counter()
                with self._lock:
                    self.records.append((str(request.cluster_id), int(request.page_number), started, ended))

        Client.list_jobs = list_jobs
        try:
            yield
        finally:
            Client.list_jobs = original

    def take(self) -> list[tuple[str, int, float, float]]:
        with self._lock:
            taken, self.records = self.records, []
        return taken


def _scan(scan: dict[str, Any], calls: _Calls) -> dict[str, Any]:
    """One handler invocation; returns its figures from the recorded calls."""
    from ehpc_rerun import app
    from ehpc_rerun.localrun import LocalContext, LocalCredentials

    ctx = LocalContext(credentials=LocalCredentials(AK_ID, AK_SECRET, STS_TOKEN))
    calls.take()
    started = time.perf_counter()
    with quiet_stdout():
        out = json.loads(app.handler(json.dumps({"scan": scan}).encode(), ctx))
    handler_s = time.perf_counter() - started
    records = calls.take()
    per_cluster: dict[str, list[tuple[int, float, float]]] = {}
    for cluster, page, start, end in records:
        per_cluster.setdefault(cluster, []).append((page, start, end))
    spans = {c: max(e for _, _, e in v) - min(s for _, s, _ in v) for c, v in per_cluster.items()}
    pages_ok = all(sorted(p for p, _, _ in v) == list(range(1, len(v) + 1)) for v in per_cluster.values())
    return {
        "counts": out.get("counts", {}),
        "calls": {c: len(v) for c, v in per_cluster.items()},
        "pages_ok": pages_ok,
        "wall": max(r[3] for r in records) - min(r[2] for r in records),
        "sum": sum(spans.values()),
        "mean_cluster": sum(spans.values()) / len(spans),
        "handler": handler_s,
    }


def _measure(endpoint: str, state: str, n: int) -> dict[str, list[dict[str, Any]]]:
    from ehpc_rerun import app

    common = {
        "endpoint": endpoint,
        "state": state,
        "region": "cn-hangzhou",
        "detector_rules": json.dumps({"rules": [RULE]}),
        "detector_clusters": ",".join(CLUSTERS),
        "max_jobs_per_invocation": 500,
        "default_timeout_s": 600,
        **UNTHROTTLED,
    }
    calls = _Calls()
    results: dict[str, list[dict[str, Any]]] = {"pool": [], "default": [], "alone": []}
    with calls.counting():
        for pool, key, scan in (
            (POOL, "pool", {}),
            (DEFAULT_POOL, "default", {}),
            (1, "alone", {"clusters": CLUSTERS[:BASELINE_CLUSTERS]}),
        ):
            with settings_env(**common, max_parallel_clusters=pool):
                app.initialize(None)
                _scan({"clusters": CLUSTERS[:1]}, calls)  # warm: SDK imported, client built, store open
                results[key] = [_scan(scan, calls) for _ in range(n)]
    return results


def run() -> dict[str, object]:
    n = runs(3)
    with (
        tempfile.TemporaryDirectory(prefix="ehpc-bench-detector-state-") as tmp,
        simulator_process(latency=LATENCY, seed_data=_seed()) as endpoint,
    ):
        results = _measure(endpoint, f"sqlite:///{Path(tmp) / 'state.db'}", n)
    pool, default, alone = results["pool"], results["default"], results["alone"]
    expected = math.ceil(JOBS / PAGE)
    per_cluster = [count for r in pool + default for count in r["calls"].values()]
    all_listed = all(len(r["calls"]) == len(CLUSTERS) for r in pool + default)
    uncontended = median([r["mean_cluster"] for r in alone]) * len(CLUSTERS)
    figures: list[Figure] = [
        figure(
            "ListJobs calls per cluster (2 000 unfinished jobs, PageSize 50)",
            max(per_cluster),
            "calls",
            f"exactly {expected}",
            all_listed
            and min(per_cluster) == max(per_cluster) == expected
            and all(r["pages_ok"] for r in pool + default),
            f"min {min(per_cluster)}, max {max(per_cluster)} over {len(per_cluster)} cluster scans; "
            f"{len(CLUSTERS)} clusters listed each scan: {all_listed}; pages 1..{expected} once each",
        )
    ]
    for label, rows, size in (
        (f"pool {POOL}", pool, POOL),
        (f"pool {DEFAULT_POOL} (default)", default, DEFAULT_POOL),
    ):
        ratio = median([r["wall"] / r["sum"] for r in rows])
        best = math.ceil(len(CLUSTERS) / size) / len(CLUSTERS)
        # 50 clusters on a pool of 8 take 7 rounds: the best ratio is 0.14, not 1/8, so the target is
        # the achievable bound + 10 % there (the same as 1/P + 10 % whenever P divides 50)
        target = 1.1 * best
        target_text = f"<= {target:.4f} (1/{size} + 10 %)"
        if best * size != 1:
            target_text = f"<= {target:.4f} (ceil(50/{size})/50 + 10 %; 1/{size} + 10 % is unreachable)"
        figures.append(
            figure(
                f"listing wall / in-run sequential sum, {label}",
                round(ratio, 4),
                "ratio",
                target_text,
                ratio <= target,
                f"median of {n}: wall {median([r['wall'] for r in rows]):.2f} s, sum "
                f"{median([r['sum'] for r in rows]):.1f} s; best possible {best:.3f} "
                f"(ceil(50/{size}) rounds); 1/{size} + 0.10 would be {1 / size + 0.10:.3f}",
            )
        )
        wall = median([r["wall"] for r in rows])
        figures.append(
            figure(
                f"listing wall / uncontended sequential sum, {label}",
                round(wall / uncontended, 4),
                "ratio",
                "info (stricter: clusters listed alone)",
                None,
                f"uncontended sum {uncontended:.1f} s = 50 x median per-cluster time of "
                f"{BASELINE_CLUSTERS} clusters listed with a pool of 1 "
                f"({uncontended / len(CLUSTERS):.2f} s for {expected} pages)",
            )
        )
        figures.append(
            figure(
                f"whole handler invocation (scan + pipeline + report), {label}",
                round(median([r["handler"] for r in rows]), 2),
                "s",
                "info",
                None,
                f"outcomes {rows[0]['counts']}",
            )
        )
    notes = [
        f"simulator in its own process, {LATENCY * 1000:.0f} ms per call; the function in this process, warm",
        "sequential sum (in-run) = sum of each cluster's first-call-start to last-call-end during the "
        "parallel run; ratio = listing-phase wall / that sum; median of the repeated runs",
        "report-only rule: the pipeline makes no RerunJobs call and no pre-check ListJobs, so every "
        "ListJobs counted is the scan's own",
        "machine: 2 cores, noisy; the client's CPU (signing, JSON) shares one GIL across the pool",
    ]
    return {
        "title": "Detector scan (50 clusters x 2 000 jobs, 50 ms per call)",
        "figures": figures,
        "notes": notes,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
