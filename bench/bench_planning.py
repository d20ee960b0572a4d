"""Planning 10 000 jobs over 50 clusters (200 each): ``plan.expand`` + ``plan.group`` +
``ClusterPlan.chunks(100)`` on 10 000 ``RerunRequest``s. Target <= 50 ms. For information: building
(validating) those requests, the whole pipeline decision path in dry run (scope, cap, SQLite claims for
10 000 jobs, release, outcomes), and the whole handler on one 10 000-job event in dry run (event
validation, pipeline, 10 000 log lines, the result).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable

from _common import HANDLER, Figure, figure, median, quiet_stdout, runs, settings_env

TARGET_MS = 50.0
CLUSTERS = 50
PER_CLUSTER = 200


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def run() -> dict[str, object]:
    if str(HANDLER) not in sys.path:
        sys.path.insert(0, str(HANDLER))
    from ehpc_rerun import app, plan
    from ehpc_rerun.deadline import Deadline
    from ehpc_rerun.localrun import LocalContext
    from ehpc_rerun.models import RerunRequest, SourceKind
    from ehpc_rerun.pipeline import Invocation, process

    n = runs(21)
    cluster_ids = [f"ehpc-hz-plan{c:02d}" for c in range(CLUSTERS)]
    pairs = [(cid, f"{j}.scheduler") for cid in cluster_ids for j in range(PER_CLUSTER)]

    def build() -> list[RerunRequest]:
        return [RerunRequest(cluster_id=c, job_ids=(j,), source=SourceKind.DIRECT) for c, j in pairs]

    build_s = _timed(build, 5)
    requests = build()

    def planning() -> int:
        plans = plan.group(plan.expand(requests, "cn-hangzhou"))
        return sum(len(p.chunks(100)) for p in plans)

    calls = planning()
    plan_s = _timed(planning, n)
    figures: list[Figure] = []
    plan_ms = median(plan_s) * 1000
    figures.append(
        figure(
            "plan 10 000 jobs / 50 clusters: expand + group + chunks(100)",
            plan_ms,
            "ms",
            f"<= {TARGET_MS:.0f} ms",
            plan_ms <= TARGET_MS,
            f"median of {n}; {calls} RerunJobs calls planned (expected {CLUSTERS * 2})",
        )
    )
    figures.append(
        figure("build 10 000 RerunRequests (pydantic validation)", median(build_s) * 1000, "ms", "info", None)
    )
    with tempfile.TemporaryDirectory() as tmp:
        knobs = {"dry_run": "true", "max_jobs_per_invocation": 10_000, "state": f"sqlite:///{tmp}/p.db"}
        with settings_env(**knobs), quiet_stdout():
            config = app.settings()
            counter = iter(range(10**6))

            def pipeline() -> int:
                from ehpc_rerun.state import open_store

                store = app._store(config) if hasattr(app, "_store") else open_store(config.state)
                inv = Invocation(
                    config,
                    f"plan-{next(counter)}",
                    "cn-hangzhou",
                    Deadline.after(60),
                    lambda: store,
                    lambda region: (_ for _ in ()).throw(AssertionError("dry run must not call E-HPC")),
                )
                return len(process(requests, inv).outcomes)

            outcomes = pipeline()
            pipe_s = _timed(pipeline, 5)
            event = json.dumps(
                [
                    {"cluster_id": c, "job_ids": [f"{j}.scheduler" for j in range(PER_CLUSTER)]}
                    for c in cluster_ids
                ]
            ).encode()
            ctx = LocalContext()
            counts = json.loads(app.handler(event, ctx))["counts"]
            handler_s = _timed(lambda: app.handler(event, ctx), 5)
    figures.append(
        figure(
            "pipeline decision path, dry run, 10 000 jobs (SQLite claims + release + outcomes)",
            median(pipe_s) * 1000,
            "ms",
            "info",
            None,
            f"median of 5; {outcomes} outcomes",
        )
    )
    figures.append(
        figure(
            "whole handler, dry run, one event with 10 000 jobs (incl. 10 000 log lines)",
            median(handler_s) * 1000,
            "ms",
            "info",
            None,
            f"median of 5; outcome counts {counts}",
        )
    )
    return {"title": "Planning 10 000 jobs over 50 clusters", "figures": figures, "notes": []}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
