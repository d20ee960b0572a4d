"""What-if measurements for the fixes proposed in ``handler/`` (which the benchmarks never edit).

A fresh child imports ``index`` and then times, in-process, the pieces a fix would remove: the detector
rules import done by ``initialize`` when no rule is configured, pydantic's plugin entry-point scan, and
a fresh SQLite store opened as ``state/sqlite.py`` does it versus with ``synchronous = OFF`` during the
one-time initialisation. The import-time pieces come from ``-X importtime`` (see :mod:`_importtime`).
"""

from __future__ import annotations

import json
import statistics

from _common import MARK, bench_env, child_result, isolated, prelude, timed_process
from _importtime import Profile

WHAT_IF = (
    prelude()
    + """import json, os, sqlite3, tempfile, time
import index
out = {}
t = time.perf_counter()
try:
    from ehpc_rerun.detector.rules import load_rules
    out['detector_rules_import'] = time.perf_counter() - t
except ImportError:
    out['detector_rules_import'] = 0.0
import pydantic.plugin._loader as loader
loader._plugins = None
t = time.perf_counter(); list(loader.get_plugins()); out['plugin_scan'] = time.perf_counter() - t
from ehpc_rerun.state.sqlite import SqliteStateStore, _SCHEMA
tmp = tempfile.mkdtemp()
t = time.perf_counter(); SqliteStateStore(os.path.join(tmp, 'a', 's.db')).close()
out['store_fresh'] = time.perf_counter() - t
t = time.perf_counter()
conn = sqlite3.connect(os.path.join(tmp, 'b.db'), isolation_level=None, check_same_thread=False)
conn.execute('PRAGMA busy_timeout = 5000')
conn.execute('PRAGMA synchronous = OFF')
conn.execute('PRAGMA journal_mode = WAL')
conn.executescript(f'BEGIN IMMEDIATE;{_SCHEMA}COMMIT;')
conn.execute('PRAGMA synchronous = NORMAL')
out['store_fresh_sync_off'] = time.perf_counter() - t
conn.close()
t = time.perf_counter(); SqliteStateStore(os.path.join(tmp, 'a', 's.db')).close()
out['store_existing'] = time.perf_counter() - t
"""
    + f"print({MARK!r} + json.dumps(out))\n"
)


def what_if(n: int = 7) -> dict[str, float]:
    """Medians (ms) over ``n`` fresh children."""
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        result = child_result(timed_process(isolated(WHAT_IF), bench_env())[1])
        for key, value in result.items():
            samples.setdefault(key, []).append(float(value) * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}


def _cum(profile: Profile, name: str) -> float:
    return profile.cum_ms.get(name, 0.0)


def fixes_markdown(profile: Profile, measured: dict[str, float], sdk_ms: float) -> str:
    """What was done about the misses (gains measured before each fix went in), and what was left."""
    store_gain = measured["store_fresh"] - measured["store_fresh_sync_off"]
    applied = [
        ("`app.initialize()`", "detector rules imported and loaded only when rules are configured", 3.4),
        (
            "`sinks/dispatch.py`",
            "sink error classes moved to `errors.py`: no `http.client` on fast paths",
            3.5,
        ),
        (
            "`app.py`, `pipeline.py`",
            "`ehpc_rerun.ehpc.*` imported only on the path that calls E-HPC; `Deadline` in its own module",
            5.9,
        ),
        ("`index.py`", "`PYDANTIC_DISABLE_PLUGINS=__all__` (no scan of installed distributions)", 2.0),
    ]
    lines = [
        "#### Fixes in `handler/`",
        "",
        "Applied (gain measured before the change, in fresh children, 2026-11-25):",
        "",
        "| where | change | gain | x SDK import |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {w} | {c} | {g:.1f} ms | {g / sdk_ms:.3f} |" for w, c, g in applied]
    lines += [
        "",
        "Measured in this run and **not** applied: `PRAGMA synchronous = OFF` while `state/sqlite.py` "
        f"creates its file would save {store_gain:.1f} ms on a fresh instance (fresh store "
        f"{measured['store_fresh']:.1f} ms vs {measured['store_fresh_sync_off']:.1f} ms; an existing store "
        f"opens in {measured['store_existing']:.1f} ms), but `EHPC_RERUN_STATE` may point at shared storage "
        "(NAS), where a crash during creation must not leave a corrupt file. Our modules still import in "
        "about 0.1 x the SDK import (their pydantic models are built at import); `defer_build` would save "
        "0.1-1.5 ms per unused model.",
        "",
        "What remains is not ours: the `uuid`/`platform`, `asyncio`, `importlib.metadata` and "
        "`email.message` imports are made by pydantic and pydantic-settings themselves, and "
        "`import pydantic_settings` alone is about half the SDK import.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(what_if(3), indent=2))
