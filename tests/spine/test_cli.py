"""The local command: ``ehpc-rerun invoke``, ``sign`` and ``simulator``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ehpc_rerun.cli import main
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sources.http_auth import sign
from tests.conftest import CLUSTER, EVENTS, KEY_ID, SECRET, TOKEN


def test_invoke_runs_an_event_file_through_the_handler_and_prints_the_result(
    sim: Simulator,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given credentials in the environment, as FC's Python 3.12 runtime provides them
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"cluster_id": CLUSTER, "job_ids": ["5.scheduler"]}))

    assert main(["invoke", str(event)]) == 0

    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{\n") :])
    assert summary["counts"] == {"rerun": 1}
    assert sim.rerun_job_ids() == ["5.scheduler"]
    assert sim.calls_for("RerunJobs")[0].security_token == TOKEN


def test_invoke_of_a_sample_without_credentials_reports_the_missing_role(
    sim: Simulator,
    settings_env: Callable[..., None],
    no_credentials: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["invoke", str(EVENTS / "direct-request.json")]) == 1
    assert "MissingCredentials" in capsys.readouterr().err
    assert sim.calls_for("RerunJobs") == []


def test_sign_prints_headers_the_function_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"cluster_id": "ehpc-hz-test01", "job_ids": ["1"]}')
    monkeypatch.setenv("EHPC_RERUN_HTTP_SECRET", "test-shared-secret-not-real-0123456789")
    assert main(["sign", str(body)]) == 0
    headers = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    expected = sign(
        "test-shared-secret-not-real-0123456789", headers["x-ehpc-rerun-timestamp"], body.read_bytes()
    )
    assert headers["x-ehpc-rerun-signature"] == expected


def test_simulator_refuses_to_listen_beyond_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "--host", "0.0.0.0", "--port", "0"]) == 2
