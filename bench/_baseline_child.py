"""The warm process of ``bench_baseline``: ours (``index``) and ``minimal_handler`` side by side in ONE
process, against the simulator of the parent, events interleaved (the order swapped every round).

``python bench/_baseline_child.py CONFIG_JSON``; config: ``endpoint`` and ``phases``, each
``{"mode": "off"|"on" (our precheck), "warm": single events per side, "batch": 100-record batches per
side, "minimal": whether the minimal handler takes part, "tag": cluster-name prefix}``. Every event goes
to its own cluster (:func:`cluster`), so that the parent can count the E-HPC calls of each case from the
simulator's call log; the result line says how many events each case sent.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import AK_ID, AK_SECRET, HANDLER, MARK, STS_TOKEN

BATCH = 100
WARMUP = 3


def cluster(case: str, i: int) -> str:
    """The cluster of event ``i`` of ``case`` (``^ehpc-[a-z0-9]{2,8}-[A-Za-z0-9]{1,40}$``)."""
    return f"ehpc-hz-{case}{i}"


def event(case: str, i: int, size: int) -> bytes:
    cid = cluster(case, i)
    if size == 1:
        return json.dumps({"cluster_id": cid, "job_ids": ["1.scheduler"]}).encode()
    return json.dumps(
        [{"cluster_id": cid, "job_ids": [f"{j}.scheduler"]} for j in range(1, size + 1)]
    ).encode()


def sides(phase: dict[str, Any]) -> list[str]:
    """The case names of one phase: ours, then the minimal handler if it takes part."""
    return [f"{phase['tag']}our"] + ([f"{phase['tag']}min"] if phase["minimal"] else [])


def clusters(phases: list[dict[str, Any]]) -> dict[str, int]:
    """``{cluster id: jobs}`` the simulator needs for ``phases`` (1 job per single event, 100 per batch)."""
    out: dict[str, int] = {}
    for phase in phases:
        for case in sides(phase):
            out |= {cluster(f"{case}u", i): 1 for i in range(WARMUP)}
            out |= {cluster(f"{case}w", i): 1 for i in range(phase["warm"])}
            out |= {cluster(f"{case}b", i): BATCH for i in range(phase["batch"])}
            if phase.get("duplicate"):
                out[cluster(f"{case}d", 0)] = 1
    return out


def main(config: dict[str, Any]) -> None:
    sys.path.insert(0, str(HANDLER))
    os.environ["MINIMAL_EHPC_ENDPOINT"] = config["endpoint"].split("://", 1)[1]
    import index
    import minimal_handler
    from ehpc_rerun import app
    from ehpc_rerun.localrun import LocalContext, LocalCredentials

    real_stdout = sys.stdout
    sys.stdout = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 - log lines: written, dropped
    ctx = LocalContext(credentials=LocalCredentials(AK_ID, AK_SECRET, STS_TOKEN))
    used: Counter[str] = Counter()
    statuses: dict[str, set[str]] = {}

    def ours(body: bytes) -> str:
        out = json.loads(index.handler(body, ctx))
        return ",".join(f"{k}:{v}" for k, v in out.get("counts", {"error": 1}).items())

    def minimal(body: bytes) -> str:
        return str(minimal_handler.handler(body, ctx))

    def timed(who: Callable[[bytes], str], case: str, size: int) -> float:
        i, used[case] = used[case], used[case] + 1
        body = event(case, i, size)
        ctx.request_id = f"baseline-{case}-{i}"
        started = time.perf_counter()
        status = who(body)
        elapsed = time.perf_counter() - started
        statuses.setdefault(case, set()).add(status)
        return elapsed

    samples: dict[str, list[float]] = {}
    for phase in config["phases"]:
        os.environ["EHPC_RERUN_PRECHECK"] = "true" if phase["mode"] == "on" else "false"
        app.reset()
        index.initialize(ctx)
        handlers = {case: ours if case.endswith("our") else minimal for case in sides(phase)}
        for case, who in handlers.items():  # warm-up: SDK import, client, session, store, code paths
            for _ in range(WARMUP):
                timed(who, f"{case}u", 1)
        for kind, count, size in (("w", phase["warm"], 1), ("b", phase["batch"], BATCH)):
            names = list(handlers)
            for round_no in range(count):
                order = names if round_no % 2 else names[::-1]
                for case in order:
                    samples.setdefault(f"{case}{kind}", []).append(
                        timed(handlers[case], f"{case}{kind}", size)
                    )
        if phase.get("duplicate"):  # the same single-job event delivered twice
            for case, who in handlers.items():
                body = event(f"{case}d", 0, 1)
                used[f"{case}d"] = 1
                for delivery in range(2):
                    ctx.request_id = f"baseline-{case}-dup-{delivery}"
                    statuses.setdefault(f"{case}d", set()).add(who(body))
    sys.stdout = real_stdout
    result = {"samples": samples, "used": dict(used), "statuses": {k: sorted(v) for k, v in statuses.items()}}
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
