"""Code run in separate processes: one more FC instance handling an event (spawned by tests)."""

from __future__ import annotations

import os


def handle_in_fresh_process(env: dict[str, str], event: bytes, request_id: str) -> str:
    os.environ.update(env)
    from ehpc_rerun import app
    from ehpc_rerun.localrun import LocalContext, LocalCredentials

    app.reset()
    creds = LocalCredentials(env["TEST_KEY_ID"], env["TEST_SECRET"], env["TEST_TOKEN"])
    result = app.handler(event, LocalContext(request_id=request_id, credentials=creds))
    return str(result)
