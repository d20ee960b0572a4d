"""The built zip, unpacked, run by a clean interpreter of the FC runtime: import everything, handle one event.

The interpreter runs with ``-I -S`` (isolated: no ``PYTHON*`` variables, no user site, no script
directory; no ``site``: no site-packages at all), from the unpacked code root, with a minimal
environment: ``PATH``, ``HOME`` and ``LANG`` plus the function's own settings. It is the real binary
(``fc_runtimes.find_python``), never a pyenv shim, which cannot resolve in such an environment.

The event is one direct-invoke rerun request. The E-HPC side is the bundled simulator (dev-only, not in
the zip), started here on 127.0.0.1: the SDK in the zip signs and sends a real RerunJobs call, and the
check reads what the simulator received. The context is shaped like the runtime's: ``credentials`` on
python3.10, none on python3.12 (the ``ALIBABA_CLOUD_*`` variables carry them there).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import fc_runtimes as fc

KEY_ID = "test-ak-id"
SECRET = "test-secret-not-real"  # noqa: S105 - the simulator's made-up key
TOKEN = "test-sts-token-not-real"  # noqa: S105 - made up
CLUSTER, JOB = "ehpc-hz-smoke01", "1.scheduler"

CHILD = r"""
import importlib, json, os, sys, types
root = os.getcwd()
sys.path.insert(0, root)
leaks = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
assert not leaks, f"site-packages on sys.path: {leaks}"
import index
names = []
for entry in sorted(os.listdir(root)):
    path = os.path.join(root, entry)
    if entry.endswith(".dist-info") or entry.startswith(".") or entry in {"index.py", "__pycache__"}:
        continue
    if os.path.isfile(os.path.join(path, "__init__.py")) or entry.endswith((".py", ".so")):
        names.append(entry.split(".")[0])
    elif os.path.isdir(path) and not entry.endswith(".libs"):  # a namespace package (google/protobuf)
        subs = sorted(os.listdir(path))
        names += [f"{entry}.{s}" for s in subs if os.path.isfile(os.path.join(path, s, "__init__.py"))]
for name in names:
    origin = getattr(importlib.import_module(name), "__file__", None) or ""
    assert origin.startswith(root), f"{name} imported from {origin}, not from the package"
Meta = types.SimpleNamespace
function = Meta(name="ehpc-rerun-smoke", handler="index.handler", memory=512, timeout=60)
context = Meta(request_id="smoke-1", function=function, region="cn-hangzhou", account_id="123")
if sys.argv[1] == "credentials":
    context.credentials = Meta(access_key_id=os.environ.pop("ALIBABA_CLOUD_ACCESS_KEY_ID"),
                               access_key_secret=os.environ.pop("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
                               security_token=os.environ.pop("ALIBABA_CLOUD_SECURITY_TOKEN"))
index.initialize(context)
result = index.handler(sys.argv[2].encode(), context)
report = {"imported": names, "python": sys.version.split()[0], "result": json.loads(result)}
print("SMOKE " + json.dumps(report))
"""


def _load_simulator(repo: Path) -> Any:
    """The simulator is stdlib-only: importable by whatever Python runs the build."""
    handler = str(repo / "handler")
    if handler not in sys.path:
        sys.path.append(handler)
    from ehpc_rerun.simulator import Simulator

    return Simulator


def check(python: str, root: Path, rt: fc.Runtime, repo: Path = fc.REPO) -> str:
    """Run the check; return a one-line summary, or raise SystemExit naming what failed."""
    simulator_class = _load_simulator(repo)
    sim = simulator_class(access_keys={KEY_ID: SECRET}, security_tokens={KEY_ID: TOKEN})
    sim.load_seed(
        {"clusters": [{"id": CLUSTER, "region": "cn-hangzhou", "jobs": [{"id": JOB, "state": "RUNNING"}]}]}
    )
    event = json.dumps({"cluster_id": CLUSTER, "job_ids": [JOB], "reason": "package smoke check"})
    mode = "credentials" if rt.name == "python3.10" else "environment"
    with sim, tempfile.TemporaryDirectory(prefix="ehpc-rerun-smoke-") as home:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "FC_FUNCTION_NAME": "ehpc-rerun-smoke",  # look like FC, so the FC-only rules apply too
            "FC_REGION": "cn-hangzhou",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
            "EHPC_RERUN_ENDPOINT": sim.endpoint,
            "EHPC_RERUN_REGION": "cn-hangzhou",
            "EHPC_RERUN_STATE": f"sqlite:///{home}/state.db",
            "EHPC_RERUN_ALLOW_LOCAL_STATE": "true",  # one process, one check: per-instance state is fine
        }
        proc = subprocess.run(  # noqa: S603 - the runtime's interpreter, fixed code
            [python, "-I", "-S", "-c", CHILD, mode, event],
            check=False,
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            timeout=180,
        )
        reruns = sim.calls_for("RerunJobs")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SMOKE ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise SystemExit(f"the package fails in a clean {rt.name} interpreter ({python}):\n{tail}")
    report = json.loads(lines[-1][len("SMOKE ") :])
    outcomes = report["result"].get("outcomes", [])
    statuses = [o.get("status") for o in outcomes]
    if statuses != ["rerun"] or len(reruns) != 1 or not reruns[0].signature_valid:
        raise SystemExit(
            f"the package ran in {rt.name} but did not handle the event as expected: outcomes {statuses}, "
            f"{len(reruns)} RerunJobs call(s) at the simulator, signed: {[c.signature_valid for c in reruns]}"
        )
    return (
        f"clean Python {report['python']} -I -S: imported index and {len(report['imported'])} packages; "
        f"one event -> RerunJobs (signed, {mode}) -> {statuses[0]}"
    )
