"""Cold start: a fresh process that imports ``index``, runs ``initialize`` and handles one single-job
event against the simulator (its own, already started process), divided by a fresh process that only
imports ``alibabacloud_ehpc20180412.client``. Target <= 1.10. Wall times are measured by the parent,
from process start to exit; the two sides are interleaved and the medians compared.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import (
    AK_ID,
    AK_SECRET,
    CLUSTER,
    MARK,
    SDK_MODULE,
    STS_TOKEN,
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
    simulator_process,
    spread,
    timed_process,
)

TARGET = 1.10
EVENT = json.dumps({"cluster_id": CLUSTER, "job_ids": ["1.scheduler"]}).encode()
SDK_ONLY = prelude() + f"import {SDK_MODULE}.client\n"
# What importing our code costs once the SDK is already there (the part of the cold start that is ours).
MARGINAL = (
    prelude()
    + f"import time, json\nt0 = time.perf_counter()\nimport {SDK_MODULE}.client\nt1 = time.perf_counter()\n"
    + "import pydantic_settings\nfrom pydantic import BaseModel\nt2 = time.perf_counter()\n"
    + "import index\nt3 = time.perf_counter()\n"
    + "print('@@BENCH@@' + json.dumps({'sdk': t1 - t0, 'pydantic_after_sdk': t2 - t1,\n"
    + "    'ours_after_both': t3 - t2}))\n"
)

# The cold child again, with the SDK imported explicitly before the event and a few SDK and store
# internals wrapped with timers (monkey-patched in the child: nothing in handler/ is changed).
DECOMPOSE = (
    prelude()
    + """import json, time
T = time.perf_counter
acc = {}
def wrap(owner, name, key, static=False):
    orig = getattr(owner, name)
    def timed(*args, **kwargs):
        started = T()
        try:
            return orig(*args, **kwargs)
        finally:
            acc[key] = acc.get(key, 0.0) + T() - started
    setattr(owner, name, staticmethod(timed) if static else timed)
t0 = T()
import index
t1 = T()
from ehpc_rerun.localrun import LocalContext, LocalCredentials
"""
    + f"ctx = LocalContext(credentials=LocalCredentials({AK_ID!r}, {AK_SECRET!r}, {STS_TOKEN!r}))\n"
    + """index.initialize(ctx)
t2 = T()
import alibabacloud_ehpc20180412.client, alibabacloud_ehpc20180412.models, alibabacloud_tea_openapi.models
t3 = T()
import darabonba.core
from ehpc_rerun.state import sqlite
wrap(darabonba.core.DaraCore, '_get_session', 'sdk_session', static=True)
wrap(alibabacloud_ehpc20180412.client.Client, '__init__', 'sdk_client')
wrap(sqlite.SqliteStateStore, '__init__', 'store_open')
"""
    + f"out = index.handler({EVENT!r}, ctx)\n"
    + """t4 = T()
acc.update(import_index=t1 - t0, initialize=t2 - t1, sdk_import=t3 - t2, handle=t4 - t3)
"""
    + f"print({MARK!r} + json.dumps(acc))\n"
)
PARTS = {
    "import_index": "import index: pydantic + pydantic-settings + our modules",
    "initialize": "initialize(): settings validation, detector rules import",
    "sdk_import": "SDK import, after index (shares asyncio, email, ssl, ... with pydantic)",
    "sdk_client": "SDK Client() construction (credentials provider, endpoint)",
    "sdk_session": "SDK first request: requests Session + SSL context (darabonba, even for http)",
    "store_open": "SQLite store creation (fresh /tmp file: WAL switch + schema)",
    "rest": "the rest of the first event: signed RerunJobs round trip, claims, outcome, log lines",
}


def _decomposition(endpoint: str, tmp: str, sdk_s: float, n: int = 7) -> str:
    samples: dict[str, list[float]] = {}
    for i in range(n):
        env = bench_env(endpoint=endpoint, state=f"sqlite:///{tmp}/dec-{i}.db", precheck="false")
        result = child_result(timed_process(isolated(DECOMPOSE), env)[1])
        result["rest"] = result["handle"] - sum(
            result.get(k, 0.0) for k in ("sdk_client", "sdk_session", "store_open")
        )
        for key, value in result.items():
            samples.setdefault(key, []).append(float(value))
    lines = [
        f"#### Where the cold start goes (in-child clocks, precheck off, median of {n} fresh children)",
        "",
        f"Against the bare SDK import of {fmt_ms(sdk_s)} (parent-measured, interpreter start included): "
        f"the target {TARGET:.2f} x leaves {fmt_ms(sdk_s * (TARGET - 1))} for everything that is not the "
        "SDK import.",
        "",
        "| part | time | x bare SDK import |",
        "|---|---:|---:|",
    ]
    for key, label in PARTS.items():
        value = median(samples.get(key, [0.0]))
        lines.append(f"| {label} | {fmt_ms(value)} | {value / sdk_s:.3f} |")
    return "\n".join(lines)


def run() -> dict[str, object]:
    n = runs(15)
    figures: list[Figure] = []
    notes: list[str] = []
    with simulator_process({CLUSTER: 5}) as endpoint, tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        splits: dict[str, list[float]] = {"import": [], "initialize": [], "handle": []}
        statuses: set[str] = set()

        def cold(precheck: bool) -> float:
            state = Path(tmp) / f"cold-{next(counter)}.db"  # a fresh instance: a fresh /tmp store
            env = bench_env(endpoint=endpoint, state=f"sqlite:///{state}", precheck=str(precheck).lower())
            elapsed, out = timed_process(isolated(handler_code(EVENT)), env)
            result = child_result(out)
            statuses.add(outcome_counts(result))
            if not precheck:
                for key, values in splits.items():
                    values.append(float(result[key]))
            return elapsed

        marginal: dict[str, list[float]] = {"sdk": [], "pydantic_after_sdk": [], "ours_after_both": []}

        def index_after_sdk() -> float:
            elapsed, out = timed_process(isolated(MARGINAL), bench_env())
            result = child_result(out)
            for key, values in marginal.items():
                values.append(float(result[key]))
            return elapsed

        samples = interleaved(
            {
                "sdk": lambda: timed_process(isolated(SDK_ONLY), bench_env())[0],
                "cold": lambda: cold(False),
                "cold_precheck": lambda: cold(True),
                "sdk_then_index": index_after_sdk,
            },
            n,
        )
        sdk = median(samples["sdk"])
        markdown = _decomposition(endpoint, tmp, sdk)
    cold_off = median(samples["cold"])
    cold_on = median(samples["cold_precheck"])
    ratio = cold_off / sdk
    figures.append(
        figure(
            "cold start / bare SDK import (precheck off: 1 RerunJobs)",
            ratio,
            "x",
            f"<= {TARGET:.2f}",
            ratio <= TARGET,
            f"{fmt_ms(cold_off)} vs {fmt_ms(sdk)}; {spread(samples['cold'])} / {spread(samples['sdk'])}",
        )
    )
    figures.append(
        figure(
            "cold start / bare SDK import (precheck on: ListJobs + RerunJobs)",
            cold_on / sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(cold_on)} vs {fmt_ms(sdk)}",
        )
    )
    libs, own = median(marginal["pydantic_after_sdk"]), median(marginal["ours_after_both"])
    in_child_sdk = median(marginal["sdk"])
    figures.append(
        figure(
            "pydantic + pydantic_settings imported after the SDK / SDK import (same child)",
            libs / in_child_sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(libs)} vs {fmt_ms(in_child_sdk)} (in-child clocks)",
        )
    )
    figures.append(
        figure(
            "our code (import index) after SDK + pydantic(-settings) / SDK import (same child)",
            own / in_child_sdk,
            "x",
            "info",
            None,
            f"{fmt_ms(own)}: our modules, model building, eager imports",
        )
    )
    notes.append(
        "cold start, in-child split (medians, precheck off): "
        + ", ".join(f"{k} {fmt_ms(median(v))}" for k, v in splits.items())
        + " (handle = first event: SDK import + client + 1 signed RerunJobs + SQLite + log lines)"
    )
    notes.append(f"outcomes seen in the cold children: {', '.join(sorted(statuses))}")
    notes.append(f"{n} interleaved fresh processes per side (+1 warm-up round dropped)")
    return {"title": "Cold start", "figures": figures, "notes": notes, "markdown": markdown}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
