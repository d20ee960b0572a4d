"""Count the API calls: exactly ceil(jobs / 100) RerunJobs calls per cluster, each with <= 100 jobs and
every job exactly once; with the pre-check on, plus ceil(unfinished jobs / 50) ListJobs pages per
cluster (PageSize 50). Runs the real handler in this process against an in-process simulator (it
records every call), one fresh simulator and store per scenario.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import AK_ID, AK_SECRET, HANDLER, STS_TOKEN, Figure, failure, figure, quiet_stdout, settings_env

SCENARIOS = {  # label -> jobs per cluster, one entry per cluster
    "1 cluster x 1 job": [1],
    "1 cluster x 100 jobs": [100],
    "1 cluster x 101 jobs": [101],
    "1 cluster x 250 jobs": [250],
    "10 clusters x 150 jobs": [150] * 10,
}


def _scenario(sizes: list[int], precheck: bool, tmp: Path) -> tuple[dict[str, int], dict[str, int], str]:
    """(expected, actual, problems) call counts."""
    from ehpc_rerun import app
    from ehpc_rerun.localrun import LocalContext, LocalCredentials
    from ehpc_rerun.simulator import Simulator

    clusters = {f"ehpc-hz-calls{i:02d}": size for i, size in enumerate(sizes)}
    with Simulator(access_keys={AK_ID: AK_SECRET}, security_tokens={AK_ID: STS_TOKEN}) as sim:
        for cluster, size in clusters.items():
            sim.add_cluster(cluster)
            for j in range(size):
                sim.add_job(cluster, f"{j}.scheduler")
        db = tmp / f"calls-{len(list(tmp.iterdir()))}.db"
        knobs = {
            "endpoint": sim.endpoint,
            "state": f"sqlite:///{db}",
            "precheck": str(precheck).lower(),
            "max_jobs_per_invocation": 10_000,
            "max_parallel_clusters": 10,
        }
        event = json.dumps(
            [
                {"cluster_id": c, "job_ids": [f"{j}.scheduler" for j in range(size)]}
                for c, size in clusters.items()
            ]
        ).encode()
        with settings_env(**knobs), quiet_stdout():
            ctx = LocalContext(credentials=LocalCredentials(AK_ID, AK_SECRET, STS_TOKEN))
            app.initialize(ctx)
            out = json.loads(app.handler(event, ctx))
        reruns = sim.calls_for("RerunJobs")
        lists = sim.calls_for("ListJobs")
        problems = []
        if out.get("counts") != {"rerun": sum(sizes)}:
            problems.append(f"outcomes {out.get('counts')}")
        per_cluster = Counter(c.cluster_id for c in reruns)
        for cluster, size in clusters.items():
            if per_cluster[cluster] != math.ceil(size / 100):
                problems.append(f"{cluster}: {per_cluster[cluster]} RerunJobs calls")
            done = sorted(sim.rerun_job_ids(cluster))
            if done != sorted(f"{j}.scheduler" for j in range(size)):
                problems.append(f"{cluster}: {len(done)} job ids rerun for {size} jobs")
        if any(len(c.job_ids) > 100 for c in reruns):
            problems.append("a RerunJobs call carried more than 100 jobs")
        expected = {"RerunJobs": sum(math.ceil(s / 100) for s in sizes)}
        actual = {"RerunJobs": len(reruns)}
        if precheck or lists:
            expected["ListJobs"] = sum(max(1, math.ceil(s / 50)) for s in sizes) if precheck else 0
            actual["ListJobs"] = len(lists)
        return expected, actual, "; ".join(problems)


def run() -> dict[str, object]:
    if str(HANDLER) not in sys.path:
        sys.path.insert(0, str(HANDLER))
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        for precheck in (False, True):
            for label, sizes in SCENARIOS.items():
                name = f"{label}, precheck {'on' if precheck else 'off'}"
                try:
                    expected, actual, problems = _scenario(sizes, precheck, Path(tmp))
                except Exception as exc:  # a broken scenario is reported, not fatal to the whole run
                    figures.append(failure(name, f"{type(exc).__name__}: {exc}"))
                    continue
                exp = ", ".join(f"{k} {v}" for k, v in expected.items())
                act = ", ".join(f"{k} {v}" for k, v in actual.items())
                ok = expected == actual and not problems
                figures.append(
                    figure(
                        name,
                        actual["RerunJobs"],
                        "calls",
                        f"expected {exp}",
                        ok,
                        f"actual {act}" + (f"; {problems}" if problems else ""),
                    )
                )
    notes = ["expected RerunJobs = sum over clusters of ceil(jobs/100); ListJobs = ceil(unfinished/50) pages"]
    return {"title": "API call counts", "figures": figures, "notes": notes}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
