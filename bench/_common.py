"""Shared helpers of the benchmarks: fresh processes timed from the parent, the simulator as its own
process, interleaved sampling, medians, machine facts.

Every ``bench_*.run()`` returns ``{"title": str, "figures": [Figure, ...], "notes": [str, ...]}``; a
figure is ``{"name", "value", "unit", "target", "status", "detail"}`` with ``status`` one of PASS,
MISS, INFO or FAIL (FAIL: the benchmark itself found a wrong behaviour, e.g. the SDK was imported on
a fast path). ``run_all.py`` renders any other dict as plain key/value lines.

Only made-up credentials and 127.0.0.1 are ever used.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HANDLER = ROOT / "handler"
_VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(_VENV_PY) if _VENV_PY.exists() else sys.executable

AK_ID = "bench-ak-id"
AK_SECRET = "bench-secret-not-real"  # made up: the simulator's only key
STS_TOKEN = "bench-sts-token"  # made up
CLUSTER = "ehpc-hz-bench01"
SDK_MODULE = "alibabacloud_ehpc20180412"
MARK = "@@BENCH@@"  # prefix of the one result line a child prints after the function's own log lines

Figure = dict[str, Any]

# E-HPC's API quota (EHPC_RERUN_QUOTA_*_PER_60S, default 100 calls per 60 s per API) at its maximum: a
# benchmark sends far more calls a minute than that, and would measure the limiter's waits instead of the
# code. The limiter still runs (its state-store reads and writes are in every figure); it never waits.
# bench_quota measures the quota itself.
UNTHROTTLED = {"quota_listjobs_per_60s": 100_000, "quota_rerunjobs_per_60s": 100_000}


def figure(
    name: str, value: float | None, unit: str, target: str, ok: bool | None, detail: str = ""
) -> Figure:
    """``ok`` None: information only (no target)."""
    status = "INFO" if ok is None else ("PASS" if ok else "MISS")
    return {"name": name, "value": value, "unit": unit, "target": target, "status": status, "detail": detail}


def failure(name: str, detail: str) -> Figure:
    return {"name": name, "value": None, "unit": "", "target": "", "status": "FAIL", "detail": detail}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    """The interquartile range, as a reading aid for the noise of one figure."""
    if len(values) < 4:
        return ""
    q = statistics.quantiles(values, n=4)
    return f"IQR {q[0] * 1000:.1f}-{q[2] * 1000:.1f} ms"


def runs(default: int) -> int:
    """Repetitions (odd: a true median); ``BENCH_RUNS`` overrides every bench's default."""
    value = int(os.environ.get("BENCH_RUNS", default))
    return max(value | 1, 3)


# --- environments and child processes -------------------------------------------------------------


def bench_env(**settings: object) -> dict[str, str]:
    """A clean environment: no EHPC_RERUN_*/ALIBABA_CLOUD_*/proxy/PYTHON* from the caller, plus
    ``settings`` as ``EHPC_RERUN_<NAME>`` variables."""
    drop = ("EHPC_RERUN_", "ALIBABA_CLOUD_", "PYTHON", "FC_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop) and "proxy" not in k.lower() and k != "DEBUG"
    }
    env.update({f"EHPC_RERUN_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def isolated(code: str) -> list[str]:
    """``python -I -c code``: no PYTHON* variables, no cwd or user site on sys.path, only the venv's
    site-packages. The code puts ``handler/`` on sys.path itself, as FC's code root would be."""
    return [PY, "-I", "-c", code]


def prelude() -> str:
    return f"import sys\nsys.path.insert(0, {str(HANDLER)!r})\n"


def handler_code(event: bytes, *, forbid_sdk: bool = False) -> str:
    """Child code: import ``index``, ``initialize``, handle one event, print the result line with
    in-child checkpoints (seconds) and whether the SDK got imported; with ``forbid_sdk`` the child then
    asserts that it was not (exit status 1 if it was)."""
    check = f"assert not sdk, 'the SDK ({SDK_MODULE}) was imported'\n" if forbid_sdk else ""
    return (
        prelude()
        + "import time\n_t0 = time.perf_counter()\n"
        + "import index\n_t1 = time.perf_counter()\n"
        + "from ehpc_rerun.localrun import LocalContext, LocalCredentials\n"
        + f"ctx = LocalContext(credentials=LocalCredentials({AK_ID!r}, {AK_SECRET!r}, {STS_TOKEN!r}))\n"
        + "index.initialize(ctx)\n_t2 = time.perf_counter()\n"
        + f"out = index.handler({event!r}, ctx)\n_t3 = time.perf_counter()\n"
        + f"sdk = {SDK_MODULE!r} in sys.modules\n"
        + "import json\n"
        + f"print({MARK!r} + json.dumps({{'sdk': sdk, 'out': out, 'import': _t1 - _t0, "
        + "'initialize': _t2 - _t1, 'handle': _t3 - _t2}), flush=True)\n"
        + check
    )


def outcome_counts(result: Mapping[str, Any]) -> str:
    """Outcome counts such as ``rerun:1`` or ``error:InvalidEvent`` from a child's handler output."""
    out = json.loads(result["out"])
    if "error" in out:
        return f"error:{out['error']['code']}"
    return ",".join(f"{k}:{v}" for k, v in out["counts"].items())


def timed_process(
    argv: list[str], env: Mapping[str, str], ok_codes: tuple[int, ...] = (0,)
) -> tuple[float, str]:
    """Wall time from process start to exit, measured in the parent; raises on another exit status."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return elapsed, proc.stdout


def child_result(stdout: str) -> dict[str, Any]:
    """The ``MARK``-prefixed JSON line a child printed last."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            result: dict[str, Any] = json.loads(line[len(MARK) :])
            return result
    raise RuntimeError(f"child printed no result line: {stdout[-500:]}")


def interleaved(sides: Mapping[str, Callable[[], float]], n: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every side ``n`` times, round-robin, rotating the order each round so that drift and
    ordering effects hit every side alike. ``warmup`` rounds are run first and dropped."""
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(warmup + n):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            value = sides[name]()
            if round_no >= warmup:
                samples[name].append(value)
    return samples


@contextmanager
def settings_env(**settings: object) -> Iterator[None]:
    """In this process: exactly ``settings`` as EHPC_RERUN_* variables (others removed), restored after;
    the function's cached settings, stores and clients are dropped on the way in and out."""
    from ehpc_rerun import app

    saved = {k: v for k, v in os.environ.items() if k.startswith("EHPC_RERUN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({f"EHPC_RERUN_{k.upper()}": str(v) for k, v in settings.items()})
    app.reset()
    try:
        yield
    finally:
        app.reset()
        for key in [k for k in os.environ if k.startswith("EHPC_RERUN_")]:
            del os.environ[key]
        os.environ.update(saved)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """The function's JSON log lines are written (their cost counts) but not shown."""
    saved = sys.stdout
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = saved


# --- the simulator in its own process -------------------------------------------------------------


def seed(clusters: Mapping[str, int], prefix: str = "") -> dict[str, Any]:
    """``{cluster id: number of RUNNING jobs}`` -> a simulator seed (jobs ``<prefix><n>.scheduler``)."""
    return {
        "clusters": [
            {
                "id": cid,
                "jobs": [{"id": f"{prefix}{n}.scheduler", "state": "RUNNING"} for n in range(1, jobs + 1)],
            }
            for cid, jobs in clusters.items()
        ]
    }


@contextmanager
def simulator_process(
    clusters: Mapping[str, int] | None = None,
    latency: float = 0.0,
    *,
    seed_data: dict[str, Any] | None = None,
) -> Iterator[str]:
    """Start ``python -m ehpc_rerun.simulator`` on 127.0.0.1 (free port); yields its endpoint.

    Seeded with ``clusters`` ({cluster id: number of RUNNING jobs}) or a whole ``seed_data`` document.
    """
    with tempfile.TemporaryDirectory(prefix="ehpc-bench-sim-") as tmp:
        seed_file = Path(tmp) / "seed.json"
        data = seed_data if seed_data is not None else seed(clusters or {})
        seed_file.write_text(json.dumps(data), encoding="utf-8")
        argv = [PY, "-m", "ehpc_rerun.simulator", "--host", "127.0.0.1", "--port", "0"]
        argv += ["--seed", str(seed_file), "--latency", str(latency)]
        argv += ["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET, "--security-token", STS_TOKEN]
        proc = subprocess.Popen(
            argv, cwd=HANDLER, env=bench_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if "listening on " not in line:
                raise RuntimeError(f"simulator did not start: {line!r}")
            yield line.rsplit("listening on ", 1)[1].strip()
        finally:
            proc.terminate()  # our own child, by its handle
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- machine facts --------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    packages = [
        "pydantic",
        "pydantic-core",
        "pydantic-settings",
        "alibabacloud-ehpc20180412",
        "alibabacloud-tea-openapi",
        "darabonba-core",
    ]
    facts = {
        "nproc": str(usable),
        "CPU": model,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{platform.system()} {platform.release()}",
        "load average (1/5/15 min) at start": load,
    }
    facts.update({name: _version(name) for name in packages})
    return facts


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
