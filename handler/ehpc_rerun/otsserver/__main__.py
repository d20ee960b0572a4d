"""Run the local Tablestore server: ``ehpc-rerun tablestore`` / ``python -m ehpc_rerun.otsserver``.

The first line on stdout is the ``EHPC_RERUN_STATE`` value (``tablestore+http://127.0.0.1:<port>/<instance>/
<table>``); the server then serves until SIGINT or SIGTERM and exits 0. Credentials default to the
ALIBABA_CLOUD_ACCESS_KEY_ID / _ACCESS_KEY_SECRET / _SECURITY_TOKEN environment variables, so the server
accepts the same credentials the function uses (prefer them to the command line, which other users can see).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from .server import TablestoreServer

ENV_ID, ENV_SECRET, ENV_TOKEN = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ehpc-rerun tablestore",
        description="Local Tablestore (OTS) server on 127.0.0.1 for tests and demos (not for production).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: pick a free one)")
    parser.add_argument("--instance", default="ehpc-rerun", help="instance name (default ehpc-rerun)")
    parser.add_argument(
        "--table",
        action="append",
        dest="tables",
        help="table to create with primary key key:STRING (repeatable; default ehpc_rerun_state)",
    )
    parser.add_argument("--access-key-id", default=os.environ.get(ENV_ID), help=f"default ${ENV_ID}")
    parser.add_argument(
        "--access-key-secret", default=os.environ.get(ENV_SECRET), help=f"default ${ENV_SECRET}"
    )
    parser.add_argument(
        "--security-token",
        default=os.environ.get(ENV_TOKEN) or None,
        help=f"STS token requests must carry (default ${ENV_TOKEN}; none if unset)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.access_key_id or not args.access_key_secret:
        print(
            f"error: no credentials: pass --access-key-id ID --access-key-secret SECRET "
            f"(and --security-token TOKEN for STS keys), or set {ENV_ID} and {ENV_SECRET}",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.port <= 65535:
        print("error: --port must be within 0..65535", file=sys.stderr)
        return 2
    server = TablestoreServer(
        args.port,
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        security_token=args.security_token,
        instance=args.instance,
        tables=tuple(args.tables or ("ehpc_rerun_state",)),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main_thread:
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(server.url, flush=True)
        print(
            f"Tablestore server for instance {args.instance!r} on {server.endpoint} "
            f"(tables: {', '.join(server.table_names)}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
