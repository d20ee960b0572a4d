"""``python -m ehpc_rerun.otsserver``: first stdout line is EHPC_RERUN_STATE, it serves, SIGTERM ends it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tablestore
from tablestore import OTSClient, Row

from ehpc_rerun.otsserver.__main__ import main
from tests.otsserver.conftest import KEY_ID, SECRET, TOKEN

ROOT = Path(__file__).resolve().parents[2]
STATE_URL = re.compile(r"^tablestore\+http://127\.0\.0\.1:(\d+)/([^/]+)/([^/]+)$")


def test_the_command_prints_its_state_url_first_serves_the_sdk_and_stops_on_sigterm() -> None:
    # given the server started as a command, credentials from the environment as the function has them
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET)
    env["ALIBABA_CLOUD_SECURITY_TOKEN"] = TOKEN
    env["PYTHONPATH"] = str(ROOT / "handler")
    command = [sys.executable, "-m", "ehpc_rerun.otsserver", "--port", "0", "--instance", "demo-inst"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # when its first stdout line is parsed and the SDK talks to what it names
        first_line = process.stdout.readline().strip()  # type: ignore[union-attr]
        match = STATE_URL.match(first_line)
        assert match, f"first stdout line is not a Tablestore URL: {first_line!r}"
        port, instance, table = match.groups()
        client = OTSClient(
            f"http://127.0.0.1:{port}",
            KEY_ID,
            SECRET,
            instance,
            sts_token=TOKEN,
            retry_policy=tablestore.NoRetryPolicy(),
        )
        client.put_row(table, Row([("key", "from-cli")], [("v", 7)]))
        _, row, _ = client.get_row(table, [("key", "from-cli")], max_version=1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)

    # then it served the named instance and table, and SIGTERM ended it with status 0
    assert (instance, table) == ("demo-inst", "ehpc_rerun_state")
    assert [(n, v) for n, v, _ in row.attribute_columns] == [("v", 7)]
    assert process.returncode == 0, stderr
    assert SECRET not in stderr and TOKEN not in stderr


def test_the_command_without_credentials_says_what_to_pass(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # given no credentials in the environment
    for name in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)

    # when the command runs
    status = main([])

    # then it exits 2 naming the options and the variables, printing nothing on stdout
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert "--access-key-id" in captured.err and "ALIBABA_CLOUD_ACCESS_KEY_ID" in captured.err
