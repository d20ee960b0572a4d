"""Run every benchmark, print a table and (re)write bench/RESULTS.md.

    ./run bench                      # all of them
    ./run bench --only warm,calls    # some (module names without ``bench_``); prints, does not write
    ./run bench --no-write           # do not touch RESULTS.md
    BENCH_RUNS=7 ./run bench         # fewer repetitions (a quick, noisier look)

``bench_detector.py`` (another developer's) is run too when it exists: its ``run()`` returns a dict,
rendered like the others when it follows the ``_common`` shape, as key/value lines otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from _common import HANDLER, machine_facts  # noqa: E402 - after the path set-up

if str(HANDLER) not in sys.path:
    sys.path.insert(0, str(HANDLER))

# Children first (clean processes), then the in-process ones (they import the function and the SDK here).
# bench_stores and bench_baseline time children only; their servers (Tablestore, the simulator) are threads
# of this process while they run, and are stopped before the next benchmark.
MODULES = [
    "cold_start",
    "fast_paths",
    "stores",
    "baseline",
    "warm",
    "parallel",
    "planning",
    "calls",
    "quota",
    "detector",
]
RESULTS = BENCH_DIR / "RESULTS.md"


def _run_one(name: str) -> dict[str, Any] | None:
    module_name = f"bench_{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        result = module.run()
        if not isinstance(result, dict):
            raise TypeError(f"{module_name}.run() returned {type(result).__name__}, not a dict")
    except Exception as exc:
        result = {
            "title": module_name,
            "figures": [
                {
                    "name": f"{module_name} crashed",
                    "value": None,
                    "unit": "",
                    "target": "",
                    "status": "FAIL",
                    "detail": f"{type(exc).__name__}: {exc}",
                }
            ],
            "notes": [traceback.format_exc(limit=3)],
        }
    result.setdefault("title", module_name)
    result["_module"] = module_name
    result["_seconds"] = time.perf_counter() - started
    return result


def _value(fig: dict[str, Any]) -> str:
    value, unit = fig.get("value"), fig.get("unit", "")
    if value is None:
        return "-"
    if not isinstance(value, float):
        return f"{value} {unit}".strip()
    text = f"{value:.3f}" if unit == "x" else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    figures = result.get("figures")
    if isinstance(figures, list) and all(isinstance(f, dict) and "name" in f for f in figures):
        return figures
    # Another shape (e.g. bench_detector): every top-level key becomes an information line.
    return [
        {"name": str(k), "value": None, "unit": "", "target": "", "status": "INFO", "detail": str(v)}
        for k, v in result.items()
        if not k.startswith("_") and k != "title"
    ]


def _print_table(results: list[dict[str, Any]]) -> None:
    rows = [("benchmark", "figure", "value", "target", "status")]
    for result in results:
        for fig in _figures(result):
            rows.append(
                (result["title"], fig["name"], _value(fig), str(fig.get("target", "")), fig["status"])
            )
    widths = [min(max(len(r[i]) for r in rows), limit) for i, limit in enumerate((28, 78, 14, 24, 6))]
    for i, row in enumerate(rows):
        print("  ".join(cell[: widths[j]].ljust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(results: list[dict[str, Any]], facts: dict[str, str], elapsed: float) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `./run bench` (`bench/run_all.py`) on {now}; the whole run took {elapsed:.0f} s.",
        "Ratios are measured within this one run (medians of repeated fresh processes, the two sides of a",
        "ratio interleaved); absolute times depend on the machine and its load. Not a timed test: a MISS",
        "says where the code stands against the issue's target, with the analysis below.",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_cell(v)} |" for k, v in facts.items()]
    lines += [
        "",
        "## Summary",
        "",
        "| benchmark | figure | value | target | status |",
        "|---|---|---:|---|---|",
    ]
    for result in results:
        for fig in _figures(result):
            lines.append(
                f"| {_cell(result['title'])} | {_cell(fig['name'])} | {_value(fig)} | "
                f"{_cell(str(fig.get('target', '')))} | **{fig['status']}** |"
            )
    for result in results:
        lines += [
            "",
            f"## {result['title']}",
            "",
            f"`bench/{result['_module']}.py`, {result['_seconds']:.0f} s.",
            "",
        ]
        for fig in _figures(result):
            if fig.get("detail"):
                lines.append(f"- {_cell(fig['name'])}: {_cell(str(fig['detail']))}")
        notes = result.get("notes")
        if isinstance(notes, list) and notes:
            lines += [""] + [f"- {_cell(str(note))}" for note in notes]
        if isinstance(result.get("markdown"), str):
            lines += ["", result["markdown"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated benchmark names, e.g. warm,calls")
    parser.add_argument("--no-write", action="store_true", help="do not (re)write bench/RESULTS.md")
    args = parser.parse_args(argv)
    names = [n.strip().removeprefix("bench_") for n in args.only.split(",")] if args.only else MODULES
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    facts = machine_facts()
    started = time.perf_counter()
    results = []
    for name in names:
        print(f"== bench_{name}", flush=True)
        result = _run_one(name)
        if result is None:
            print(f"   (bench/bench_{name}.py not present: skipped)")
            continue
        print(f"   {result['_seconds']:.1f} s", flush=True)
        results.append(result)
    elapsed = time.perf_counter() - started
    try:  # other work on the machine moves the absolute figures (less so the ratios): say how busy it was
        facts["load average (1/5/15 min) at end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        facts["load average (1/5/15 min) at end"] = "n/a"
    print()
    _print_table(results)
    print(f"\n{elapsed:.0f} s in all")
    if args.only:  # RESULTS.md records a whole run; a partial one only prints
        print("partial run (--only): bench/RESULTS.md left as it was")
    elif not args.no_write:
        RESULTS.write_text(_markdown(results, facts, elapsed), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(BENCH_DIR.parent)}")
    failed = any(f["status"] == "FAIL" for r in results for f in _figures(r))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
