"""``ehpc-rerun``: run the function locally (dev-only; not part of the deployed package).

ehpc-rerun invoke EVENT_FILE [--simulator]   run the handler on an event file, print the result
                                             (see ``ehpc-rerun invoke --help``: simulator, seed, exit codes)
ehpc-rerun simulator [...]                   run the local E-HPC simulator
ehpc-rerun tablestore [...]                  run a local Tablestore server for the state store
ehpc-rerun demo                              simulator + every file in events/ through the handler
ehpc-rerun sign [BODY_FILE] [--method M] [--path P]
                                             headers for an anonymous-mode HTTP call (secret from the env)
ehpc-rerun history CLUSTER JOB [--region R] [--json]
                                             why and when a job was rerun, from the configured state store
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import cli_invoke


def _sign(args: argparse.Namespace) -> int:
    from .sources.http_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    method = args.method.upper()
    problem = None
    if method == "GET" and args.body is not None:
        problem = "a GET is signed with an empty body: leave out BODY_FILE"
    elif method != "GET" and args.body is None:
        problem = f"{method} needs BODY_FILE, the exact request body"
    elif not args.path.startswith("/") or "?" in args.path:
        problem = "--path is the URL path as requested, starting with / and without the query string"
    if problem:
        print(f"ehpc-rerun sign: error: {problem}", file=sys.stderr)
        return 2
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"set {args.secret_env} to the shared secret", file=sys.stderr)
        return 2
    body = b"" if args.body is None else Path(args.body).read_bytes()
    timestamp = str(int(time.time()))
    print(f"{TIMESTAMP_HEADER}: {timestamp}")
    print(f"{SIGNATURE_HEADER}: {sign(secret, timestamp, body, method=method, path=args.path)}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from . import instance
    from .errors import RerunError
    from .policy.job_history_answer import read, render_table
    from .settings import load_settings
    from .sources.base import HistoryQuery
    from .sources.http_routes import history_query

    query = history_query({"cluster_id": args.cluster, "job_id": args.job}, {"region": args.region or ""})
    if not isinstance(query, HistoryQuery):
        problems = "; ".join(f"{p['field']}: {p['problem']}" for p in query.body["error"]["fields"])
        print(f"ehpc-rerun history: error: {problems}", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        region = (
            query.region
            or settings.region
            or os.environ.get("FC_REGION")
            or os.environ.get("ALIBABA_CLOUD_REGION")
            or "cn-hangzhou"
        )
        answer = read(instance.store(settings), region, query.cluster_id, query.job_id, settings, _now_ms())
    except RerunError as exc:
        print(json.dumps({"raised": exc.code, "message": exc.message}), file=sys.stderr)
        return 1
    finally:
        instance.reset()  # close the store
    print(json.dumps(answer, indent=2, ensure_ascii=False) if args.json else render_table(answer))
    return 0


def _now_ms() -> int:
    return int(time.time() * 1000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ehpc-rerun", description="Rerun stuck E-HPC jobs (local tools).")
    sub = parser.add_subparsers(dest="command", required=True)
    invoke = sub.add_parser(
        "invoke",
        help="run the handler on an event file and print the result",
        description="Run the handler on EVENT_FILE as FC would (the raw bytes) and print what it returns.",
        epilog=cli_invoke.INVOKE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("event", metavar="EVENT_FILE", help="event file (as FC would pass it: the raw bytes)")
    invoke.add_argument(
        "--simulator",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run against the bundled E-HPC simulator (default: only when nothing is configured; see below)",
    )
    invoke.add_argument(
        "--seed", metavar="SEED_FILE", help="seed the simulator from this file, not the event"
    )
    sub.add_parser(
        "simulator",
        help="run the local E-HPC simulator (options: ehpc-rerun simulator --help)",
        add_help=False,
    )
    sub.add_parser(
        "tablestore",
        help="run a local Tablestore server for the state store; its first stdout line is the "
        "EHPC_RERUN_STATE value",
        add_help=False,
    )
    demo = sub.add_parser("demo", help="run every event in events/ against the bundled simulator")
    demo.add_argument("--events", default="events", help="folder of event files (default: events)")
    sign = sub.add_parser(
        "sign",
        help="print the signature headers for an anonymous-mode HTTP call",
        description='Signs hex(HMAC-SHA256(secret, "<timestamp>\\n<METHOD>\\n<path>\\n" + body)): a '
        "signature is good for one method on one path, once, within EHPC_RERUN_HTTP_MAX_SKEW_S.",
    )
    sign.add_argument(
        "body", nargs="?", metavar="BODY_FILE", help="file holding the exact request body (none for GET)"
    )
    sign.add_argument(
        "--method", default="POST", choices=["POST", "GET"], type=str.upper, help="default POST"
    )
    sign.add_argument(
        "--path",
        default="/",
        help="the URL path as requested, percent-decoded, without the query string (default /), "
        "e.g. /rerun or /2023-03-30/functions/<name>/invocations",
    )
    sign.add_argument("--secret-env", default="EHPC_RERUN_HTTP_SECRET", help="variable holding the secret")
    history = sub.add_parser(
        "history",
        help="why and when a job was rerun (as GET /jobs/{cluster_id}/{job_id} answers)",
        description="Reads the job's reruns and escalations in the budget window from the state store named "
        "by EHPC_RERUN_STATE (default: the local SQLite file, as the function uses outside FC; Tablestore "
        "signs with the ALIBABA_CLOUD_* credentials), with its budget and when it may next be rerun.",
    )
    history.add_argument("cluster", metavar="CLUSTER", help="cluster id, e.g. ehpc-hz-XXXXXXXX")
    history.add_argument("job", metavar="JOB", help="job id, e.g. 1.scheduler")
    history.add_argument(
        "--region", help="the cluster's region (default EHPC_RERUN_REGION, FC_REGION, else cn-hangzhou)"
    )
    history.add_argument("--json", action="store_true", help="print the JSON the HTTP endpoint returns")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulator"]:
        from .simulator.__main__ import main as simulator_main

        return simulator_main(argv[1:])
    if argv[:1] == ["tablestore"]:
        from .otsserver.__main__ import main as tablestore_main

        return tablestore_main(argv[1:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for a usage error, 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "invoke":
        return cli_invoke.invoke(args)
    if args.command == "sign":
        return _sign(args)
    if args.command == "history":
        return _history(args)
    from .demo import run_demo

    return run_demo(Path(args.events))


if __name__ == "__main__":
    raise SystemExit(main())
