"""Run the E-HPC simulator: ``python -m ehpc_rerun.simulator [--port N] [--seed seed.json]``."""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .server import Simulator

DEFAULT_ACCESS_KEY_ID = "test-ak-id"
DEFAULT_ACCESS_KEY_SECRET = "test-secret-not-real"  # noqa: S105 - a made-up key for local runs


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and IPv4 loopback addresses (127.0.0.0/8)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ehpc-rerun simulator", description="Local E-HPC (2018-04-12) API simulator for tests and demos."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: pick a free one)")
    parser.add_argument("--seed", type=Path, help="JSON seed file: {'clusters': [{'id', 'jobs': [...]}]}")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to delay every call")
    parser.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID)
    parser.add_argument("--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET)
    parser.add_argument("--security-token", default=None, help="STS token the access key must present")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        print(f"error: refusing to bind {args.host!r}: only loopback addresses are allowed", file=sys.stderr)
        return 2
    if args.latency < 0 or not 0 <= args.port <= 65535:
        print("error: --latency must be >= 0 and --port within 0..65535", file=sys.stderr)
        return 2
    sim = Simulator(
        access_keys={args.access_key_id: args.access_key_secret},
        security_tokens={args.access_key_id: args.security_token} if args.security_token else None,
        latency=args.latency,
        port=args.port,
        bind_address="127.0.0.1" if args.host == "localhost" else args.host,
    )
    if args.seed is not None:
        try:
            sim.load_seed(json.loads(args.seed.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"error: cannot load seed {args.seed}: {exc}", file=sys.stderr)
            return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if in_main_thread else None
    try:
        sim.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"E-HPC simulator listening on {sim.endpoint}", flush=True)
        jobs = sum(len(c.jobs) for c in sim.clusters.values())
        print(
            f"access key id {args.access_key_id}; {len(sim.clusters)} clusters, {jobs} jobs", file=sys.stderr
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
