"""``ehpc-rerun invoke``: one event file through the real handler, against the bundled simulator or the
configured endpoint (dev-only; not part of the deployed package)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

INVOKE_EPILOG = """\
where the E-HPC calls go:
  --simulator     the bundled E-HPC simulator, started on 127.0.0.1 for this run and stopped after it,
                  seeded from the event: every cluster and job the event names exists, the jobs RUNNING
                  (or from --seed FILE). The function gets the simulator's fake credentials:
                    access key id test-ak-id, secret test-secret-not-real, STS token test-sts-token-not-real
                  The state store is a fresh SQLite file for the run, unless EHPC_RERUN_STATE is set.
                  The last stderr line is the simulator's call count.
  --no-simulator  the configured endpoint (EHPC_RERUN_ENDPOINT, else E-HPC's endpoint of the region) with the
                  configured credentials (ALIBABA_CLOUD_ACCESS_KEY_ID, _ACCESS_KEY_SECRET, _SECURITY_TOKEN).
  neither         the simulator when neither EHPC_RERUN_ENDPOINT nor ALIBABA_CLOUD_ACCESS_KEY_ID is set
                  (nothing real could be called), else the configured endpoint. One stderr line says which.

seed file (--seed here, and `ehpc-rerun simulator --seed`):
  {"clusters": [{"id": "ehpc-hz-demo01", "region": "cn-hangzhou", "status": "running",
                 "jobs": [{"id": "1.scheduler", "state": "RUNNING"},
                          {"id": "2.scheduler", "state": "FINISHED"}]}]}
  cluster: id (required), region, status (only "running" accepts RerunJobs);
  job: id (required), state (RUNNING, QUEUED, FINISHED, ...), owner, name, submit_time, start_time,
  last_modify_time.

a simulator of your own:
  ehpc-rerun simulator --port 8080 --seed seed.json --security-token test-sts-token-not-real
  EHPC_RERUN_ENDPOINT=http://127.0.0.1:8080 ALIBABA_CLOUD_ACCESS_KEY_ID=test-ak-id \\
  ALIBABA_CLOUD_ACCESS_KEY_SECRET=test-secret-not-real ALIBABA_CLOUD_SECURITY_TOKEN=test-sts-token-not-real \\
  ehpc-rerun invoke --no-simulator EVENT_FILE

output: stdout is what the handler returns (JSON); the function's log lines go to stderr.
exit status:
  0  every job got a non-failure decision (rerun, dry_run, duplicate, ignored, not_rerunnable, capped,
     over_budget, unparseable_time), or there was nothing to do (HTTP: a 2xx status code as well)
  1  a job failed, has an unknown fate or was rejected, the event was refused, an HTTP status code is not 2xx,
     or the handler raised
  2  usage error (bad arguments, an event or seed file that cannot be read)
"""


def usage_error(message: str) -> int:
    print(f"ehpc-rerun invoke: error: {message}", file=sys.stderr)
    return 2


def _run_handler(raw: bytes, context: Any) -> int:
    """The handler on ``raw``: its log lines to stderr, its result to stdout; returns the exit code."""
    from . import app
    from .errors import RerunError
    from .localrun import exit_code

    try:
        with contextlib.redirect_stdout(sys.stderr):
            app.reset()
            result = app.handler(raw, context)
    except RerunError as exc:
        print(json.dumps({"raised": exc.code, "message": exc.message}), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: show it whole, it is a local tool
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"raised": "InternalError", "message": f"{type(exc).__name__}"}), file=sys.stderr)
        return 1
    shown = result if isinstance(result, dict) else json.loads(result)
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return exit_code(result)


def _invoke_on_simulator(raw: bytes, seed: dict[str, Any] | None) -> int:
    import tempfile

    from . import app
    from .errors import ConfigError
    from .localrun import (
        SIM_KEY_ID,
        SIM_SECRET,
        SIM_TOKEN,
        LocalContext,
        LocalCredentials,
        scoped_env,
        seed_from_event,
    )
    from .settings import load_settings
    from .simulator import Simulator

    try:
        event_seed = seed if seed is not None else seed_from_event(raw, load_settings())
    except ConfigError as exc:
        print(json.dumps({"raised": exc.code, "message": exc.message}), file=sys.stderr)
        return 1
    with (
        Simulator(access_keys={SIM_KEY_ID: SIM_SECRET}, security_tokens={SIM_KEY_ID: SIM_TOKEN}) as sim,
        tempfile.TemporaryDirectory(prefix="ehpc-rerun-invoke-") as work,
    ):
        try:
            sim.load_seed(event_seed)
        except ValueError as exc:
            return usage_error(f"bad seed: {exc}")
        env = {"EHPC_RERUN_ENDPOINT": sim.endpoint}
        state = os.environ.get("EHPC_RERUN_STATE") or ""
        if not state:
            env["EHPC_RERUN_STATE"] = f"sqlite:///{Path(work) / 'state.db'}"
        # A simulated run must not notify real channels configured in this shell ("" = unset).
        muted = [name for name in _SINK_VARIABLES if os.environ.get(name)]
        env.update(dict.fromkeys(muted, ""))
        if muted:
            print(f"ehpc-rerun invoke: sinks off against the simulator: {', '.join(muted)}", file=sys.stderr)
        clusters = event_seed.get("clusters", [])
        jobs = sum(len(c.get("jobs", [])) for c in clusters)
        origin = "from --seed" if seed is not None else "from the event"
        print(
            f"ehpc-rerun invoke: bundled E-HPC simulator at {sim.endpoint}, seeded {origin} "
            f"({len(clusters)} clusters, {jobs} jobs), fake credentials {SIM_KEY_ID}; "
            f"state: {'EHPC_RERUN_STATE' if state else 'a fresh SQLite file'}",
            file=sys.stderr,
        )
        credentials = LocalCredentials(SIM_KEY_ID, SIM_SECRET, SIM_TOKEN)
        context = LocalContext(credentials=credentials, region=os.environ.get("FC_REGION", "cn-hangzhou"))
        with scoped_env(env):
            try:
                code = _run_handler(raw, context)
            finally:
                app.reset()  # close the store before its directory goes
        counts: dict[str, int] = {}
        for call in sim.calls:
            counts[call.action] = counts.get(call.action, 0) + 1
        detail = ", ".join(f"{action} {n}" for action, n in sorted(counts.items()))
        print(f"simulator: {len(sim.calls)} calls{' (' + detail + ')' if detail else ''}", file=sys.stderr)
    return code


_SINK_VARIABLES = (
    "EHPC_RERUN_MNS_ENDPOINT",
    "EHPC_RERUN_MNS_TOPIC",
    "EHPC_RERUN_EVENTBRIDGE_BUS",
    "EHPC_RERUN_EVENTBRIDGE_ENDPOINT",
    "EHPC_RERUN_DINGTALK_WEBHOOK",
    "EHPC_RERUN_DINGTALK_SECRET",
)


def _invoke_configured(raw: bytes) -> int:
    from .errors import ConfigError
    from .localrun import LocalContext
    from .settings import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(json.dumps({"raised": exc.code, "message": exc.message}), file=sys.stderr)
        return 1
    context = LocalContext.from_env()
    if settings.endpoint is not None:
        where = f"{settings.endpoint} (EHPC_RERUN_ENDPOINT)"
    else:
        from .ehpc.client import endpoint_for

        host, scheme = endpoint_for(settings, settings.region or context.region)
        where = f"{scheme}://{host}"
    creds = (
        "credentials from the ALIBABA_CLOUD_* variables"
        if context.credentials is not None
        else "no credentials (ALIBABA_CLOUD_ACCESS_KEY_ID is not set)"
    )
    print(f"ehpc-rerun invoke: configured endpoint {where}, {creds}", file=sys.stderr)
    return _run_handler(raw, context)


def invoke(args: argparse.Namespace) -> int:
    try:
        raw = Path(args.event).read_bytes()
    except OSError as exc:
        return usage_error(f"cannot read the event file {args.event}: {exc.strerror or exc}")
    seed: dict[str, Any] | None = None
    if args.seed is not None:
        try:
            seed = json.loads(Path(args.seed).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return usage_error(f"cannot read the seed file {args.seed}: {exc}")
        if not isinstance(seed, dict):
            return usage_error(f'the seed file {args.seed} must hold an object {{"clusters": [...]}}')
    simulator = args.simulator
    if simulator is None:
        configured = os.environ.get("EHPC_RERUN_ENDPOINT") or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        simulator = not configured
    if seed is not None and not simulator:
        return usage_error("--seed seeds the bundled simulator: use it with --simulator")
    return _invoke_on_simulator(raw, seed) if simulator else _invoke_configured(raw)
