"""Per state store (SQLite, Redis, Tablestore): round trips and time of claim + complete for 1 and for 100
jobs, the cold start of the rerun path with each store, and what the Tablestore SDK's own import costs.

* Round trips: counted in this process, once per case (they are deterministic): Tablestore from the
  local server's ``calls``, Redis from ``INFO commandstats`` deltas (``_stores.py`` says how), SQLite: one
  transaction per operation by design, no network.
* Time of claim + complete: one child process opens every store, then times claim + complete on fresh
  keys, the stores round-robin (rotated each round), the first rounds dropped; medians.
* Cold start: fresh processes that import ``index``, initialize and handle one single-job event (precheck
  off: 1 RerunJobs) against the simulator (own process) with ``EHPC_RERUN_STATE`` naming each store
  (SQLite: a fresh file each, as a fresh instance's /tmp; Redis and Tablestore: the running servers, a
  distinct job each time so that none is a duplicate), interleaved with a fresh process that only imports
  the E-HPC SDK, one that only imports ``tablestore``, and one that imports the E-HPC SDK then ``tablestore``.

``python bench/bench_stores.py --child CONFIG_JSON`` is the timing child (started by :func:`run`).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

import _stores
from _common import (
    BENCH,
    CLUSTER,
    MARK,
    PY,
    SDK_MODULE,
    Figure,
    bench_env,
    child_result,
    failure,
    figure,
    fmt_ms,
    handler_code,
    interleaved,
    isolated,
    median,
    outcome_counts,
    prelude,
    runs,
    seed,
    simulator_process,
    spread,
    timed_process,
)

SIZES = (1, 100)
WARMUP = 3
SDK_ONLY = prelude() + f"import {SDK_MODULE}.client\n"
TABLESTORE_ONLY = prelude() + "import tablestore\n"
SDK_THEN_TABLESTORE = (
    prelude()
    + f"import time, json\nt0 = time.perf_counter()\nimport {SDK_MODULE}.client\nt1 = time.perf_counter()\n"
    + "import tablestore\nt2 = time.perf_counter()\n"
    + f"print({MARK!r} + json.dumps({{'sdk': t1 - t0, 'tablestore_after_sdk': t2 - t1}}))\n"
)
# What the design says a claim or a complete of n (<= 100) uncontended keys costs.
# --- time of claim + complete (a child process) ---------------------------------------------------------


def _child(config: dict[str, Any]) -> None:
    stores = {label: _stores.open_store(url) for label, url in config["urls"].items()}
    labels = list(stores)
    samples: dict[str, list[float]] = {f"{label} {size}": [] for label in labels for size in SIZES}
    for round_no in range(WARMUP + int(config["n"])):
        shift = round_no % len(labels)
        for label in labels[shift:] + labels[:shift]:
            for size in SIZES:
                keys = [f"t-{uuid.uuid4().hex}-{i}" for i in range(size)]
                now = int(time.time() * 1000)
                started = time.perf_counter()
                _stores.claim(stores[label], keys, now)
                _stores.complete(stores[label], keys, now + 1)
                if round_no >= WARMUP:
                    samples[f"{label} {size}"].append(time.perf_counter() - started)
    for store in stores.values():
        store.close()
    print(MARK + json.dumps(samples), flush=True)


def _op_times(st: _stores.Stores, n: int) -> dict[str, list[float]]:
    """Child-measured times; plus ``Tablestore server <size>``: the local server's own handling time per
    claim + complete (its requests timed here; a 1-key request body is < 1500 bytes, a 100-key one more)."""
    handled: list[tuple[int, float]] = []
    real_handle = st.tablestore.handle

    def timed_handle(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        started = time.perf_counter()
        try:
            return real_handle(method, path, headers, body)
        finally:
            handled.append((len(body), time.perf_counter() - started))

    st.tablestore.handle = timed_handle  # this instance only, for the child's run
    try:
        config = json.dumps({"urls": st.urls("times"), "n": n})
        _, out = timed_process([PY, str(BENCH / "bench_stores.py"), "--child", config], bench_env())
    finally:
        del st.tablestore.handle
    times = {k: [float(x) for x in v] for k, v in child_result(out).items()}
    pairs = WARMUP + n  # claim + complete pairs per size, warm-up included
    small = sum(t for size, t in handled if size < 1500)
    times["Tablestore server 1"] = [small / pairs]
    times["Tablestore server 100"] = [(sum(t for _, t in handled) - small) / pairs]
    return times


def _time_figures(times: dict[str, list[float]], labels: list[str]) -> list[Figure]:
    figures = []
    for size in SIZES:
        base = median(times[f"SQLite {size}"])
        for label in labels:
            values = times[f"{label} {size}"]
            value = median(values)
            detail = f"median of {len(values)}; {spread(values)}"
            if label != "SQLite":
                detail += f"; {value / base:.1f} x SQLite"
            if label == "Tablestore":
                server = times[f"Tablestore server {size}"][0]
                detail += (
                    f"; of which the local Python server's own handling {fmt_ms(server)} (mean; a real "
                    "endpoint's service time and network replace it)"
                )
            figures.append(
                figure(
                    f"{label}: claim + complete, {size} job{'s' if size > 1 else ''}: time",
                    value * 1000,
                    "ms",
                    "info",
                    None,
                    detail,
                )
            )
    return figures


# --- cold starts (fresh processes) ----------------------------------------------------------------------


def _cold_starts(
    st: _stores.Stores, n: int, extra: dict[str, Any]
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Interleaved fresh processes; ``extra`` gets the outcomes seen, in-child first-event times and the
    in-child import times of the E-HPC SDK then tablestore."""
    urls = st.urls("cold-unused")
    labels = list(urls)
    jobs = iter(range(1, 10**6))
    seen: dict[str, set[str]] = {label: set() for label in labels}
    handle: dict[str, list[float]] = {label: [] for label in labels}
    marginal: dict[str, list[float]] = {"sdk": [], "tablestore_after_sdk": []}
    with simulator_process(seed_data=seed({CLUSTER: len(labels) * (n + 1) + 5})) as endpoint:

        def cold(label: str) -> float:
            job = next(jobs)
            url = st.sqlite_url(f"cold-{job}") if label == "SQLite" else urls[label]
            event = json.dumps({"cluster_id": CLUSTER, "job_ids": [f"{job}.scheduler"]}).encode()
            env = bench_env(endpoint=endpoint, state=url, precheck="false")
            elapsed, out = timed_process(isolated(handler_code(event)), env)
            result = child_result(out)
            seen[label].add(outcome_counts(result))
            handle[label].append(float(result["handle"]))
            return elapsed

        def sdk_then_tablestore() -> float:
            elapsed, out = timed_process(isolated(SDK_THEN_TABLESTORE), bench_env())
            for key, value in child_result(out).items():
                marginal[key].append(float(value))
            return elapsed

        sides = {
            "sdk": lambda: timed_process(isolated(SDK_ONLY), bench_env())[0],
            "tablestore": lambda: timed_process(isolated(TABLESTORE_ONLY), bench_env())[0],
            "sdk_then_tablestore": sdk_then_tablestore,
        }
        sides |= {label: (lambda label=label: cold(label)) for label in labels}
        extra |= {"seen": seen, "handle": handle, "marginal": marginal}
        samples = interleaved(sides, n)
    return samples, extra


def _cold_figures(samples: dict[str, list[float]], extra: dict[str, Any], labels: list[str]) -> list[Figure]:
    sdk, sqlite = median(samples["sdk"]), median(samples["SQLite"])
    figures: list[Figure] = []
    for label in labels:
        outcomes = extra["seen"][label]
        if outcomes != {"rerun:1"}:
            figures.append(failure(f"cold start with {label}", f"outcomes {sorted(outcomes)}, not rerun:1"))
            continue
        value = median(samples[label])
        detail = (
            f"{fmt_ms(value)} vs bare SDK import {fmt_ms(sdk)}; {spread(samples[label])}; "
            f"first event (in-child) {fmt_ms(median(extra['handle'][label]))}"
        )
        if label != "SQLite":
            detail += f"; {value / sqlite:.3f} x the SQLite cold start ({fmt_ms(sqlite)})"
        figures.append(
            figure(
                f"cold start with {label} / bare SDK import (precheck off)",
                value / sdk,
                "x",
                "info",
                None,
                detail,
            )
        )
        if label != "SQLite":
            figures.append(
                figure(
                    f"cold start with {label} / cold start with SQLite",
                    value / sqlite,
                    "x",
                    "info",
                    None,
                    f"{fmt_ms(value - sqlite)} more per cold instance",
                )
            )
    alone, both = median(samples["tablestore"]), median(samples["sdk_then_tablestore"])
    in_sdk, in_ots = (median(extra["marginal"][k]) for k in ("sdk", "tablestore_after_sdk"))
    figures.append(
        figure(
            "import tablestore alone (fresh process) / bare SDK import",
            alone / sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(alone)} vs {fmt_ms(sdk)} (parent-measured, interpreter start included)",
        )
    )
    figures.append(
        figure(
            "E-HPC SDK import then import tablestore / bare SDK import",
            both / sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(both)} vs {fmt_ms(sdk)}; in-child: SDK {fmt_ms(in_sdk)}, then tablestore "
            f"{fmt_ms(in_ots)} ({in_ots / in_sdk:.2f} x the in-child SDK import)",
        )
    )
    return figures


def run() -> dict[str, object]:
    n_ops, n_cold = runs(21), runs(11)
    figures: list[Figure] = []
    notes: list[str] = []
    extra: dict[str, Any] = {"seen": {}}
    with _stores.stores() as st:
        labels = list(st.urls("labels"))
        if st.redis_url is None:
            figures.append(figure(f"Redis: not measured: {st.redis_missing}", None, "", "", None))
        # Each part on its own: one that breaks is reported as a FAIL row, the others still measured.
        for name, part in (
            ("round trips", lambda: _stores.round_trip_figures(_stores.round_trips(st), SIZES)),
            ("claim + complete times", lambda: _time_figures(_op_times(st, n_ops), labels)),
            ("cold starts", lambda: _cold_figures(*_cold_starts(st, n_cold, extra), labels)),
        ):
            try:
                figures += part()
            except Exception as exc:
                figures.append(failure(f"{name} crashed", f"{type(exc).__name__}: {str(exc)[-600:]}"))
    notes += [
        "round trips: Tablestore = HTTP requests the local server received; Redis = commands the client sent "
        "(INFO commandstats deltas minus the commands our Lua scripts run inside the server); "
        "SQLite has none",
        "TCP_NODELAY set on the local Tablestore server's connections (without it every round trip waits "
        "~40 ms for a delayed ACK: an artefact of the local server, see bench/_stores.py)"
        if st.tablestore_nodelay
        else "TCP_NODELAY could NOT be set on the local Tablestore server: its round trips include ~40 ms "
        "delayed-ACK stalls (bench/_stores.py)",
        "the local Tablestore server is Python (the protocol, signatures and conditions, in memory) in the "
        "benchmark's process, and redis-server is a local process: a real store adds its network round-trip "
        "time to every round trip counted above",
        f"claim + complete: one child process, {n_ops} rounds per store and size (+{WARMUP} dropped), "
        "fresh keys every time, stores round-robin",
        f"cold starts: {n_cold} interleaved fresh processes per side (+1 warm-up round dropped); "
        "outcomes: " + "; ".join(f"{k} {'/'.join(sorted(v))}" for k, v in extra["seen"].items()),
    ]
    markdown = _table(figures, labels)
    return {"title": "State stores", "figures": figures, "notes": notes, "markdown": markdown}


def _table(figures: list[Figure], labels: list[str]) -> str:
    """One row per store, from the figures above ("-" where a part was not measured)."""
    by_name = {f["name"]: f for f in figures}

    def value(name: str, fmt: str) -> str:
        fig = by_name.get(name)
        return "-" if fig is None or fig["value"] is None else fmt.format(fig["value"])

    lines = [
        "#### Per store (medians of this run)",
        "",
        "| store | round trips, claim + complete of 1 / 100 jobs | time, 1 / 100 jobs | cold start / bare "
        "SDK import | cold start / SQLite cold start |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in labels:
        trips = " / ".join(
            value(f"{label}: claim + complete, {n}: round trips", "{}") for n in ("1 job", "100 jobs")
        )
        times = " / ".join(
            value(f"{label}: claim + complete, {n}: time", "{:.2f} ms") for n in ("1 job", "100 jobs")
        )
        cold = value(f"cold start with {label} / bare SDK import (precheck off)", "{:.3f} x")
        ratio = (
            "1"
            if label == "SQLite"
            else value(f"cold start with {label} / cold start with SQLite", "{:.3f} x")
        )
        lines.append(f"| {label} | {trips} | {times} | {cold} | {ratio} |")
    alone = value("import tablestore alone (fresh process) / bare SDK import", "{:.3f} x")
    after = value("E-HPC SDK import then import tablestore / bare SDK import", "{:.3f} x")
    lines += [
        "",
        f"`import tablestore` alone: {alone} the bare E-HPC SDK import; E-HPC SDK then tablestore: {after}. "
        "SQLite's round trips are 0 (a local file; one transaction per operation).",
        "",
        _analysis(by_name),
    ]
    return "\n".join(lines)


def _analysis(by_name: dict[str, Figure]) -> str:
    def ms(name: str) -> str:
        fig = by_name.get(name)
        if fig is None or fig["value"] is None:
            return "(not measured)"
        if fig["unit"] == "ms":
            return f"{fig['value']:.1f} ms"
        return f"{fig['value']:.2f} x"

    def extra_ms(label: str) -> str:
        detail = str(by_name.get(f"cold start with {label} / cold start with SQLite", {}).get("detail", ""))
        return detail.split(" more", 1)[0] or "(not measured)"

    marginal = str(
        by_name.get("E-HPC SDK import then import tablestore / bare SDK import", {}).get("detail", "")
    )
    after_sdk = (
        marginal.split("then tablestore ", 1)[-1].split(" (", 1)[0] if "then tablestore" in marginal else "?"
    )
    return (
        "**Analysis.** Every rerun costs one claim before the RerunJobs call and one complete after it, so "
        "what a user pays for a shared store is its round trips: Redis makes one EVALSHA per operation "
        "(2 per rerun, the same for 1 or 100 jobs), Tablestore a BatchGetRow and a conditional BatchWriteRow "
        "per operation (4 per rerun up to 100 jobs; more only past 100 keys or when another instance changed "
        "a row in between), SQLite none. On 127.0.0.1 claim + complete of 1 job took "
        f"{ms('SQLite: claim + complete, 1 job: time')} with SQLite, "
        f"{ms('Redis: claim + complete, 1 job: time')} with Redis and "
        f"{ms('Tablestore: claim + complete, 1 job: time')} with Tablestore "
        f"({ms('Tablestore: claim + complete, 100 jobs: time')} for 100 jobs, part of it the local Python "
        "server); in a deployment each round trip also pays the network time to the store, which is why the "
        "counts matter more than these milliseconds. A cold instance pays the store's set-up once: "
        f"Tablestore {extra_ms('Tablestore')} more than SQLite, of which `import tablestore` is {after_sdk} "
        "(after the E-HPC SDK; numpy, protobuf and aiohttp come with it), Redis "
        f"{extra_ms('Redis')} (redis-py, and the opening round trips listed above: redis-py's connection "
        "handshake, then our PING and SCRIPT LOADs in one pipeline). "
        "SQLite stays the fastest but is private to one instance, so it cannot dedupe across FC instances "
        "(refused inside FC unless EHPC_RERUN_ALLOW_LOCAL_STATE=true)."
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        print(json.dumps(run(), indent=2))
