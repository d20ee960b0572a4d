"""``ehpc-rerun demo``: the bundled simulator + every file in ``events/`` through the real handler.

Dev-only (not deployed). The SDK talks to the simulator over real HTTP with signed requests and an STS
token; the per-job JSON log lines go to a file, and a table of outcomes is printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

DEMO_KEY_ID = "demo-ak-id"
DEMO_SECRET = "demo-secret-not-real"  # noqa: S105 - the local simulator's made-up key
DEMO_TOKEN = "demo-sts-token"  # noqa: S105 - made up, like the key

SEED: dict[str, Any] = {
    "clusters": [
        {
            "id": "ehpc-hz-demo01",
            "region": "cn-hangzhou",
            "status": "running",
            "jobs": [
                {"id": f"{n}.scheduler", "state": "QUEUED" if n % 5 == 0 else "RUNNING", "owner": "hpcuser"}
                for n in range(1, 41)
                if n not in (24, 26)
            ]
            + [
                # placed on nodes, for the node event sample: compute3 has failed, compute1 is fine
                {"id": "24.scheduler", "state": "RUNNING", "owner": "hpcuser", "node_list": "compute[3-4]"},
                {"id": "26.scheduler", "state": "RUNNING", "owner": "hpcuser", "node_list": "compute1"},
                {"id": "41.scheduler", "state": "FINISHED", "owner": "hpcuser"},
            ],
            "nodes": [
                {"host": "manager", "roles": ["Scheduler", "Account"]},
                {"host": "compute1", "state_in_sched": "alloc"},
                {"host": "compute2", "state_in_sched": "idle"},
                {"host": "compute3", "status": "exception", "state_in_sched": "down*"},
                {"host": "compute4", "state_in_sched": "alloc"},
            ],
        },
        {
            "id": "ehpc-sh-demo02",
            "region": "cn-shanghai",
            "status": "running",
            "jobs": [{"id": "1.manager", "state": "RUNNING"}, {"id": "2.manager", "state": "QUEUED"}],
        },
    ]
}


def _outcomes(result: Any) -> list[dict[str, Any]]:
    if isinstance(result, dict) and "statusCode" in result:
        body = json.loads(result["body"])
        if "outcomes" not in body:
            error = body.get("error", {})
            return [
                {
                    "status": f"HTTP {result['statusCode']}",
                    "error_code": error.get("code"),
                    "message": error.get("message"),
                }
            ]
        return list(body["outcomes"])
    data = json.loads(result)
    if "error" in data:
        return [
            {"status": "rejected", "error_code": data["error"]["code"], "message": data["error"]["message"]}
        ]
    return list(data["outcomes"])


def _detail(outcome: dict[str, Any]) -> str:
    if outcome.get("status") == "rerun":
        return f"RequestId {outcome.get('ehpc_request_id')}"
    text = f"{outcome.get('error_code') or ''} {outcome.get('message') or ''}".strip()
    return text if len(text) <= 70 else text[:67] + "..."


def run_demo(events_dir: Path) -> int:
    from . import app
    from .errors import RerunError
    from .localrun import LocalContext, LocalCredentials
    from .simulator import Simulator

    files = sorted(p for p in events_dir.iterdir() if p.is_file() and p.suffix in (".json", ".txt"))
    if not files:
        print(f"no event files in {events_dir}")
        return 1
    work = Path(tempfile.mkdtemp(prefix="ehpc-rerun-demo-"))
    log_path = work / "outcomes.jsonl"
    rows: list[tuple[str, str, str, str, str, str]] = []
    from .otsserver import TablestoreServer

    # The state goes where the deployed function keeps it by default: Tablestore (here the local server,
    # on Tablestore's wire protocol, signed with the same STS credentials the function is given).
    with (
        Simulator(access_keys={DEMO_KEY_ID: DEMO_SECRET}, security_tokens={DEMO_KEY_ID: DEMO_TOKEN}) as sim,
        TablestoreServer(
            access_key_id=DEMO_KEY_ID, access_key_secret=DEMO_SECRET, security_token=DEMO_TOKEN
        ) as tablestore,
    ):
        sim.load_seed(SEED)
        os.environ.update(
            {
                "EHPC_RERUN_ENDPOINT": sim.endpoint,
                "EHPC_RERUN_STATE": tablestore.url,
                "EHPC_RERUN_REGION": "cn-hangzhou",
            }
        )
        app.reset()
        credentials = LocalCredentials(DEMO_KEY_ID, DEMO_SECRET, DEMO_TOKEN)
        with log_path.open("w") as log:
            for path in files:
                context = LocalContext(credentials=credentials)
                with contextlib.redirect_stdout(log):
                    try:
                        result = app.handler(path.read_bytes(), context)
                        outcomes = _outcomes(result)
                    except RerunError as exc:
                        outcomes = [{"status": "raised", "error_code": exc.code, "message": exc.message}]
                for o in outcomes:
                    rows.append(
                        (
                            path.name,
                            str(o.get("source", "")),
                            str(o.get("cluster_id") or "-"),
                            str(o.get("job_id") or "-"),
                            str(o.get("status")),
                            _detail(o),
                        )
                    )
        reruns = sim.calls_for("RerunJobs")
        lists = sim.calls_for("ListJobs")
        all_signed = all(c.signature_valid for c in sim.calls)
        all_sts = all(c.security_token == DEMO_TOKEN for c in sim.calls)
        all_async = all(c.async_ is True for c in reruns)
        app.reset()  # closes the store before its server stops
        store_requests = sum(tablestore.calls.values())
    _print_table(rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[4]] = counts.get(row[4], 0) + 1
    print()
    print(
        f"{len(files)} events, {len(rows)} outcomes: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    print(
        f"simulator: {len(reruns)} RerunJobs calls and {len(lists)} ListJobs calls; "
        f"signatures valid: {all_signed}; STS token sent: {all_sts}; Async=True: {all_async}"
    )
    print(f"state: the local Tablestore server (the deployed default store), {store_requests} requests")
    print(f"per-job JSON log lines (what FC ships to SLS): {log_path}")
    return 0 if all_signed and all_sts and all_async else 1


def _print_table(rows: list[tuple[str, str, str, str, str, str]]) -> None:
    header = ("EVENT", "SOURCE", "CLUSTER", "JOB", "STATUS", "DETAIL")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(widths[i]) if i < 5 else str(cell) for i, cell in enumerate(row)))
