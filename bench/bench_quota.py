"""E-HPC calls per event against the account's API quota (ListJobs / RerunJobs: 100 per 60 s).

1. a 1-job event on flat clusters of 50, 500, 5 000 and 50 000 unfinished jobs: ListJobs calls and time,
   bounded pre-check (EHPC_RERUN_PRECHECK_MAX_PAGES=5) against paging to the end (the old behaviour);
2. a flood: 4 processes x 25 events (one job each) on one 2 000-job cluster sharing one SQLite store, with
   the simulator enforcing E-HPC's flow control (100 per 60 s): ListJobs in all and in the worst 60 s
   window, Throttling answers, every job rerun once;
3. 100 jobs of which 50 are refused (finished): calls with the pre-check on (listing complete, and
   listing incomplete on a big cluster) and off.

The simulator runs in this process (threads) on 127.0.0.1; only made-up credentials are used.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import AK_ID, AK_SECRET, STS_TOKEN, Figure, figure, quiet_stdout, settings_env

FAST = {"retry_base_delay_ms": 5, "retry_max_delay_ms": 50, "region": "cn-hangzhou"}


def _sim(clusters: dict[str, list[tuple[str, str]]], latency: float = 0.0) -> Any:
    from ehpc_rerun.simulator import Simulator

    sim = Simulator(access_keys={AK_ID: AK_SECRET}, security_tokens={AK_ID: STS_TOKEN}, latency=latency)
    for cluster, jobs in clusters.items():
        sim.add_cluster(cluster)
        for job_id, state in jobs:
            sim.add_job(cluster, job_id, state=state)
    return sim.start()


def _context(request_id: str) -> Any:
    from ehpc_rerun.localrun import LocalContext, LocalCredentials

    return LocalContext(request_id=request_id, credentials=LocalCredentials(AK_ID, AK_SECRET, STS_TOKEN))


def _event(cluster: str, jobs: list[str]) -> bytes:
    return json.dumps({"cluster_id": cluster, "job_ids": jobs}).encode()


def _handle(event: bytes, request_id: str) -> dict[str, Any]:
    """The handler's summary line; a requested redelivery as ``{"counts": {"redelivery": 1}}``."""
    from ehpc_rerun import app
    from ehpc_rerun.errors import RedeliveryRequested

    with quiet_stdout():
        try:
            out: dict[str, Any] = json.loads(app.handler(event, _context(request_id)))
        except RedeliveryRequested:
            return {"counts": {"redelivery": 1}}
    return out


def _flat(size: int) -> list[Figure]:
    cluster = "ehpc-hz-flat01"
    sim = _sim({cluster: [(f"{n}.s", "RUNNING") for n in range(1, size + 1)]})
    figures = []
    modes = [("bounded", 5, 100)] + ([("to the end", 1000, 100_000)] if size <= 5000 else [])
    try:
        with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
            for label, pages, quota in modes:
                state = f"sqlite:///{Path(tmp) / f'{label[:2]}.db'}"
                limits = {"precheck_max_pages": pages, "quota_listjobs_per_60s": quota}
                with settings_env(endpoint=sim.endpoint, state=state, **limits, **FAST):
                    sim.reset_calls()
                    started = time.perf_counter()
                    out = _handle(_event(cluster, [f"{size}.s"]), f"flat-{size}-{pages}")
                    seconds = time.perf_counter() - started
                calls = len(sim.calls_for("ListJobs"))
                ok = (calls <= 5) if label == "bounded" else None
                detail = f"{seconds * 1000:.0f} ms, outcome {out['counts']}"
                figures.append(figure(f"{size} jobs: ListJobs, {label}", calls, "calls", "<= 5", ok, detail))
            if size > 5000:
                figures.append(
                    figure(f"{size} jobs: ListJobs, to the end", size // 50, "calls", "", None, "computed")
                )
    finally:
        sim.stop()
    return figures


def flood_worker(env: dict[str, str], worker: int, events: int) -> list[str]:
    """One FC instance handling ``events`` one-job events in a row (a spawned process)."""
    os.environ.update(env)
    from ehpc_rerun import app

    app.reset()
    statuses: list[str] = []
    for n in range(events):
        job = f"{worker * events + n + 1}.s"
        statuses.extend(_handle(_event(env["BENCH_CLUSTER"], [job]), f"flood-{worker}-{n}")["counts"])
    return statuses


def _flood() -> list[Figure]:
    cluster, procs, per_proc = "ehpc-hz-flood01", 4, 25
    sim = _sim({cluster: [(f"{n}.s", "RUNNING") for n in range(1, 2001)]}, latency=0.01)
    sim.set_quota("ListJobs", 100)
    sim.set_quota("RerunJobs", 100)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
            env = {f"EHPC_RERUN_{k.upper()}": str(v) for k, v in FAST.items()}
            env.update(
                EHPC_RERUN_ENDPOINT=sim.endpoint,
                EHPC_RERUN_STATE=f"sqlite:///{Path(tmp) / 'flood.db'}",
                BENCH_CLUSTER=cluster,
            )
            started = time.perf_counter()
            with multiprocessing.get_context("spawn").Pool(procs) as pool:
                results = pool.starmap(flood_worker, [(env, w, per_proc) for w in range(procs)])
            wall = time.perf_counter() - started
        listed = sim.calls_for("ListJobs")
        starts = sorted(c.started_at for c in listed)
        worst = max((sum(1 for t in starts[i:] if t < s + 60) for i, s in enumerate(starts)), default=0)
        throttled = sum(1 for c in sim.calls if c.code and c.code.startswith("Throttling"))
        reruns = Counter(sim.rerun_job_ids(cluster))
        once = len(reruns) == procs * per_proc and set(reruns.values()) == {1}
        statuses = Counter(s for r in results for s in r)
    finally:
        sim.stop()
    detail = f"{procs} x {per_proc} events in {wall:.1f} s; outcomes {dict(statuses)}"
    detail += "; before the bound: 100 events x 40 pages = 4 000 calls"
    return [
        figure("flood: ListJobs in all", len(listed), "calls", "<= 100", len(listed) <= 100, detail),
        figure("flood: ListJobs in the worst 60 s", worst, "calls", "<= 100", worst <= 100),
        figure("flood: Throttling answers from E-HPC", throttled, "answers", "0", throttled == 0),
        figure("flood: jobs rerun exactly once", sum(reruns.values()), "jobs", "100", once),
    ]


def _refused() -> list[Figure]:
    small, big = "ehpc-hz-ref01", "ehpc-hz-ref02"
    jobs = [(f"r{n}", "FINISHED" if n % 2 == 0 else "RUNNING") for n in range(1, 101)]
    filler = [(f"{n}.f", "RUNNING") for n in range(1, 2001)]
    sim = _sim({small: jobs, big: filler + jobs})
    figures = []
    cases = [
        ("pre-check on, complete listing", small, True),
        ("pre-check on, listing cut at 5 pages", big, True),
    ]
    cases.append(("pre-check off", small, False))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
            for n, (label, cluster, precheck) in enumerate(cases):
                sim.reset_calls()
                for job_id, state in jobs:
                    sim.set_job_state(cluster, job_id, state)  # undo the previous case's reruns
                sim.reset_calls()
                state_url = f"sqlite:///{Path(tmp) / f'ref{n}.db'}"
                # every other job refused is isolation's worst case (2n - 1 calls for n jobs): the RerunJobs
                # quota is lifted here to count them (at 100 per 60 s the event would wait for the refill)
                limits = {"precheck": str(precheck).lower(), "quota_rerunjobs_per_60s": 100_000}
                with settings_env(endpoint=sim.endpoint, state=state_url, **limits, **FAST):
                    out = _handle(_event(cluster, [j for j, _ in jobs]), f"refused-{n}")
                lists, reruns = len(sim.calls_for("ListJobs")), len(sim.calls_for("RerunJobs"))
                detail = f"ListJobs {lists} + RerunJobs {reruns}; outcomes {out['counts']}"
                figures.append(
                    figure(f"100 jobs, 50 refused: {label}", lists + reruns, "calls", "", None, detail)
                )
    finally:
        sim.stop()
    return figures


def run() -> dict[str, Any]:
    figures: list[Figure] = []
    for size in (50, 500, 5000, 50_000):
        figures.extend(_flat(size))
    figures.extend(_flood())
    figures.extend(_refused())
    notes = [
        "E-HPC 2018-04-12 quota: ListJobs 100/60 s per account "
        "(help.aliyun.com/en/e-hpc/e-hpc-1-0/developer-reference/api-ehpc-2018-04-12-quota); the simulator "
        "enforces 100/60 s on ListJobs and RerunJobs in the flood (RerunJobs' row: UNVERIFIED).",
        "Snapshots: EHPC_RERUN_LISTING_SNAPSHOT_S=10 (default); one instance lists, the others wait for its "
        "snapshot (listing-lock document).",
    ]
    return {"title": "E-HPC API quota: calls per event", "figures": figures, "notes": notes}


if __name__ == "__main__":
    for fig in run()["figures"]:
        print(f"{fig['status']:5} {fig['name']}: {fig['value']} {fig['unit']} {fig['detail']}")
