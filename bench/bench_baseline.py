"""Ours against what a user would write instead (``bench/minimal_handler.py``: ``json.loads``, one
``RerunJobs`` per record through the same official SDK, ``print``), measured side by side in this run:

* cold start: fresh processes (import + first single-job event), interleaved with the bare SDK import;
* warm: per single-job event, both handlers in ONE warm process, interleaved (``_baseline_child.py``);
* a 100-record batch (100 one-job direct requests for 100 jobs of one cluster): the minimal handler
  loops, 100 ``RerunJobs``; ours groups them into 1 ``RerunJobs`` (+ the pre-check's ListJobs pages);
  at 0 ms and at ``SLOW_MS`` per API call (the simulator's latency);
* the same single-job event delivered twice (a redelivery).

E-HPC calls per case come from the simulator's call log: it runs in this process (a thread; this process
only waits for its children meanwhile) and every event of every case goes to its own cluster.
Ours runs with its defaults except the state (a SQLite file) and ``EHPC_RERUN_PRECHECK`` (both ways).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _baseline_child as child
from _baseline_report import SLOW_MS, WHO, calls_text, label, outcome_checks, table
from _common import (
    AK_ID,
    AK_SECRET,
    BENCH,
    HANDLER,
    MARK,
    PY,
    SDK_MODULE,
    STS_TOKEN,
    UNTHROTTLED,
    Figure,
    bench_env,
    child_result,
    figure,
    fmt_ms,
    handler_code,
    interleaved,
    isolated,
    median,
    outcome_counts,
    prelude,
    runs,
    spread,
    timed_process,
)

SDK_ONLY = prelude() + f"import {SDK_MODULE}.client\n"


def _minimal_code(event: bytes) -> str:
    return (
        prelude()
        + f"sys.path.insert(0, {str(BENCH)!r})\nimport json, time\n_t0 = time.perf_counter()\n"
        + "import minimal_handler\n_t1 = time.perf_counter()\nfrom types import SimpleNamespace\n"
        + f"creds = SimpleNamespace(access_key_id={AK_ID!r}, access_key_secret={AK_SECRET!r}, "
        + f"security_token={STS_TOKEN!r})\nctx = SimpleNamespace(credentials=creds, request_id='cold')\n"
        + f"out = minimal_handler.handler({event!r}, ctx)\n_t2 = time.perf_counter()\n"
        + f"print({MARK!r} + json.dumps({{'out': out, 'import': _t1 - _t0, 'handle': _t2 - _t1}}))\n"
    )


def _calls_per_event(sim: Any, case: str, used: int) -> tuple[Counter[str], str]:
    """E-HPC calls of one event of ``case`` (events 0..used-1, each on its own cluster)."""
    by_cluster: dict[str, Counter[str]] = defaultdict(Counter)
    failed = 0
    for call in sim.calls:
        by_cluster[call.cluster_id][call.action] += 1
        failed += call.status != 200
    seen = {frozenset(by_cluster[child.cluster(case, i)].items()) for i in range(used)}
    problem = "" if len(seen) == 1 else f"calls differ between events: {sorted(map(sorted, seen))}"
    if failed:
        problem += f"; {failed} calls answered with an error (whole run)"
    return Counter(dict(next(iter(seen)))) if seen else Counter(), problem.strip("; ")


def _cold(sim: Any, tmp: Path, n: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    counter: Counter[str] = Counter()
    outcomes: dict[str, set[str]] = defaultdict(set)
    for case in ("cmin", "coff", "con"):
        for i in range(n + 1):
            sim.add_cluster(child.cluster(case, i))
            sim.add_job(child.cluster(case, i), "1.scheduler")

    def cold(case: str) -> float:
        i, counter[case] = counter[case], counter[case] + 1
        body = json.dumps({"cluster_id": child.cluster(case, i), "job_ids": ["1.scheduler"]}).encode()
        if case == "cmin":
            env = bench_env() | {"MINIMAL_EHPC_ENDPOINT": sim.host}
            elapsed, out = timed_process(isolated(_minimal_code(body)), env)
            outcomes[case].add(str(child_result(out)["out"]))
            return elapsed
        state = f"sqlite:///{tmp / f'cold-{case}-{i}.db'}"
        env = bench_env(endpoint=sim.endpoint, state=state, precheck=str(case == "con").lower())
        elapsed, out = timed_process(isolated(handler_code(body)), env)
        outcomes[case].add(outcome_counts(child_result(out)))
        return elapsed

    sides: dict[str, Callable[[], float]] = {
        "sdk": lambda: timed_process(isolated(SDK_ONLY), bench_env())[0],
        **{case: (lambda case=case: cold(case)) for case in ("cmin", "coff", "con")},
    }
    samples = interleaved(sides, n)
    return samples, {"used": dict(counter), "outcomes": {k: sorted(v) for k, v in outcomes.items()}}


def _warm(sim: Any, tmp: Path, phases: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for cid, jobs in child.clusters(phases).items():
        sim.add_cluster(cid)
        for j in range(1, jobs + 1):
            sim.add_job(cid, f"{j}.scheduler")
    env = bench_env(endpoint=sim.endpoint, state=f"sqlite:///{tmp / f'{name}.db'}", **UNTHROTTLED)
    config = json.dumps({"endpoint": sim.endpoint, "phases": phases})
    _, out = timed_process([PY, str(BENCH / "_baseline_child.py"), config], env)
    result = child_result(out)
    # The minimal handler does not depend on our precheck: its samples of every phase are pooled
    # ("minw", "minb"), and every ratio to it uses the pool.
    for kind in ("w", "b"):
        pooled = [x for key, xs in result["samples"].items() if key.endswith(f"min{kind}") for x in xs]
        result["samples"][f"min{kind}"] = pooled
    return result


def run() -> dict[str, object]:
    import sys

    if str(HANDLER) not in sys.path:
        sys.path.insert(0, str(HANDLER))
    from ehpc_rerun.simulator import Simulator

    n_cold, n_warm, n_batch = runs(11), max(runs(201), 51), runs(11)
    fast = [
        {"mode": "off", "tag": "f", "warm": n_warm, "batch": n_batch, "minimal": True},
        {"mode": "on", "tag": "n", "warm": n_warm, "batch": n_batch, "minimal": True, "duplicate": True},
    ]
    slow = [
        {"mode": "on", "tag": "sn", "warm": 0, "batch": 3, "minimal": True},
        {"mode": "off", "tag": "sf", "warm": 0, "batch": 3, "minimal": False},
    ]
    sim = Simulator(access_keys={AK_ID: AK_SECRET}, security_tokens={AK_ID: STS_TOKEN})
    with sim, tempfile.TemporaryDirectory(prefix="ehpc-bench-baseline-") as tmp:
        cold_samples, cold_info = _cold(sim, Path(tmp), n_cold)
        warm = _warm(sim, Path(tmp), fast, "fast")
        sim.set_latency(SLOW_MS / 1000)
        slow_result = _warm(sim, Path(tmp), slow, "slow")
        sim.set_latency(0.0)

        def calls(case: str, used: dict[str, int]) -> tuple[Counter[str], str]:
            return _calls_per_event(sim, case, used.get(case, 0))

        figures = _cold_figures(cold_samples, cold_info, calls)
        figures += _warm_figures(warm, calls)
        figures += _batch_figures(warm, slow_result, calls)
        figures += outcome_checks(cold_info["outcomes"], warm["statuses"], slow_result["statuses"])
        markdown = table(cold_samples, cold_info, warm, slow_result, calls)
    notes = [
        f"cold: {n_cold} interleaved fresh processes per side (+1 warm-up round dropped); outcomes "
        + "; ".join(f"{WHO[k[1:]]} {'/'.join(v)}" for k, v in cold_info["outcomes"].items()),
        f"warm: one process, {n_warm} single-job events per side and mode, {n_batch} batches per side and "
        "mode at 0 ms, 3 at "
        f"{SLOW_MS} ms; every event on its own cluster; outcomes "
        + "; ".join(
            f"{name} {seen}" for name, seen in _outcomes(warm["statuses"], slow_result["statuses"]).items()
        ),
        "ours in the warm process: EHPC_RERUN_QUOTA_LISTJOBS_PER_60S / _RERUNJOBS_PER_60S at their maximum "
        "(it sends hundreds of events a second; bench/bench_quota.py is about the quota)",
        "the minimal handler builds its client per invocation from the context's STS credentials (the SDK "
        "shares its HTTP session per process, so that costs ~0.1 ms); ours caches clients per instance",
    ]
    return {"title": "Against a minimal handler", "figures": figures, "notes": notes, "markdown": markdown}


def _outcomes(*statuses: dict[str, list[str]]) -> dict[str, str]:
    """``{case label: outcomes}`` over every phase (warm-ups left out)."""
    out: dict[str, set[str]] = defaultdict(set)
    for by_case in statuses:
        for case, seen in by_case.items():
            if not case.endswith("u"):
                out[label(case)].add("/".join(seen))
    return {name: " or ".join(sorted(seen)) for name, seen in sorted(out.items())}


def _cold_figures(samples: dict[str, list[float]], info: dict[str, Any], calls: Any) -> list[Figure]:
    sdk, mini = median(samples["sdk"]), median(samples["cmin"])
    figures = [
        figure(
            "cold start: minimal handler / bare SDK import",
            mini / sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(mini)} vs {fmt_ms(sdk)}; {spread(samples['cmin'])}",
        )
    ]
    for case in ("coff", "con"):
        value = median(samples[case])
        got, problem = calls(case, info["used"])
        mini_calls, _ = calls("cmin", info["used"])
        figures.append(
            figure(
                f"cold start: {WHO[case[1:]]} / minimal handler",
                value / mini,
                "x",
                "info",
                None,
                f"{fmt_ms(value)} vs {fmt_ms(mini)} (+{fmt_ms(value - mini)}; {value / sdk:.3f} x bare SDK "
                f"import); E-HPC calls {calls_text(got)} vs {calls_text(mini_calls)}"
                + (f"; {problem}" if problem else ""),
            )
        )
    return figures


def _warm_figures(warm: dict[str, Any], calls: Any) -> list[Figure]:
    samples, used = warm["samples"], warm["used"]
    figures = []
    for tag, mode in (("f", "off"), ("n", "on")):
        ours, mini = samples[f"{tag}ourw"], samples["minw"]
        diff = median(ours) - median(mini)
        got, problem = calls(f"{tag}ourw", used)
        mini_calls, _ = calls(f"{tag}minw", used)
        figures.append(
            figure(
                f"warm, per single-job event: {WHO[mode]} - minimal handler",
                diff * 1000,
                "ms",
                "info",
                None,
                f"{fmt_ms(median(ours))} vs {fmt_ms(median(mini))} ({median(ours) / median(mini):.2f} x; "
                f"medians of {len(ours)} and {len(mini)}); "
                f"E-HPC calls {calls_text(got)} vs {calls_text(mini_calls)}"
                + (f"; {problem}" if problem else ""),
            )
        )
    for who in ("min", "our"):
        got, problem = calls(f"n{who}d", used)
        rerun = got.get("RerunJobs", 0)
        figures.append(
            figure(
                f"same single-job event delivered twice: RerunJobs, {WHO['min' if who == 'min' else 'on']}",
                rerun,
                "calls",
                "info",
                None,
                f"all E-HPC calls for both deliveries: {calls_text(got)}; outcomes "
                + "/".join(warm["statuses"].get(f"n{who}d", []))
                + (f"; {problem}" if problem else ""),
            )
        )
    return figures


def _batch_figures(fast: dict[str, Any], slow: dict[str, Any], calls: Any) -> list[Figure]:
    figures = []
    for result, latency, tags in ((fast, 0, ("f", "n")), (slow, SLOW_MS, ("sf", "sn"))):
        samples, used = result["samples"], result["used"]
        for tag, mode in zip(tags, ("off", "on"), strict=True):
            # the minimal handler of the same phase (interleaved with ours), else of the other one
            mini = median(samples["minb"])
            mini_calls, _ = calls(f"{tags[1]}minb", used)
            ours = median(samples[f"{tag}ourb"])
            got, problem = calls(f"{tag}ourb", used)
            figures.append(
                figure(
                    f"100-record batch at {latency} ms per API call: {WHO[mode]} / minimal handler",
                    ours / mini,
                    "x",
                    "info",
                    None,
                    f"{fmt_ms(ours)} vs {fmt_ms(mini)} (medians of {len(samples[f'{tag}ourb'])} and "
                    f"{len(samples['minb'])}); E-HPC calls {calls_text(got)} vs {calls_text(mini_calls)}"
                    + (f"; {problem}" if problem else ""),
                )
            )
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
