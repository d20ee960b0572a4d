"""``ehpc-rerun``: run the function locally (dev-only; not part of the deployed package).

ehpc-rerun invoke EVENT_FILE      run the handler on an event file, print the result
ehpc-rerun simulator [...]        run the local E-HPC simulator
ehpc-rerun demo                   simulator + every file in events/ through the handler
ehpc-rerun sign BODY_FILE         headers for an anonymous-mode HTTP call (secret from the env)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _invoke(args: argparse.Namespace) -> int:
    from . import app
    from .errors import RerunError
    from .localrun import LocalContext

    raw = Path(args.event).read_bytes()
    app.reset()
    try:
        result = app.handler(raw, LocalContext.from_env())
    except RerunError as exc:
        print(json.dumps({"raised": exc.code, "message": exc.message}), file=sys.stderr)
        return 1
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(json.dumps(json.loads(result), indent=2, ensure_ascii=False))
    return 0


def _sign(args: argparse.Namespace) -> int:
    from .sources.http_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"set {args.secret_env} to the shared secret", file=sys.stderr)
        return 2
    body = Path(args.body).read_bytes()
    timestamp = str(int(time.time()))
    print(f"{TIMESTAMP_HEADER}: {timestamp}")
    print(f"{SIGNATURE_HEADER}: {sign(secret, timestamp, body)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ehpc-rerun", description="Rerun stuck E-HPC jobs (local tools).")
    sub = parser.add_subparsers(dest="command", required=True)
    invoke = sub.add_parser("invoke", help="run the handler on an event file and print the result")
    invoke.add_argument("event", help="event file (as FC would pass it: the raw bytes)")
    sub.add_parser(
        "simulator",
        help="run the local E-HPC simulator (options: ehpc-rerun simulator --help)",
        add_help=False,
    )
    demo = sub.add_parser("demo", help="run every event in events/ against the bundled simulator")
    demo.add_argument("--events", default="events", help="folder of event files (default: events)")
    sign = sub.add_parser("sign", help="print the signature headers for an anonymous-mode HTTP call")
    sign.add_argument("body", help="file holding the exact request body")
    sign.add_argument("--secret-env", default="EHPC_RERUN_HTTP_SECRET", help="variable holding the secret")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulator"]:
        from .simulator.__main__ import main as simulator_main

        return simulator_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "invoke":
        return _invoke(args)
    if args.command == "sign":
        return _sign(args)
    from .demo import run_demo

    return run_demo(Path(args.events))


if __name__ == "__main__":
    raise SystemExit(main())
