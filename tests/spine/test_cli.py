"""The local command: ``ehpc-rerun invoke``, ``sign`` and ``simulator``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun.cli import main
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sources.http_auth import sign
from tests.conftest import CLUSTER, EVENTS, KEY_ID, SECRET, TOKEN, http_event


def env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The STS credentials in the environment, as FC's Python 3.12 runtime provides them."""
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)


def test_invoke_runs_an_event_file_through_the_handler_and_prints_the_result(
    sim: Simulator,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given credentials in the environment, as FC's Python 3.12 runtime provides them
    env_credentials(monkeypatch)
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


SHARED = "test-shared-secret-not-real-0123456789"


def printed_headers(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines())


def test_sign_prints_headers_the_function_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a body file and the secret in the environment
    body = tmp_path / "body.json"
    body.write_bytes(b'{"cluster_id": "ehpc-hz-test01", "job_ids": ["1"]}')
    monkeypatch.setenv("EHPC_RERUN_HTTP_SECRET", SHARED)
    # when signed without --method or --path
    assert main(["sign", str(body)]) == 0
    # then the signature is for POST on /
    headers = printed_headers(capsys.readouterr().out)
    expected = sign(SHARED, headers["x-ehpc-rerun-timestamp"], body.read_bytes(), method="POST", path="/")
    assert headers["x-ehpc-rerun-signature"] == expected


def test_sign_with_a_path_prints_headers_the_function_accepts_on_that_path_only(
    sim: Simulator,
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an anonymous trigger and headers printed by `ehpc-rerun sign BODY --path /ehpc/rerun`
    settings_env(http_auth="anonymous", http_secret=SHARED)
    monkeypatch.setenv("EHPC_RERUN_HTTP_SECRET", SHARED)
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"cluster_id": CLUSTER, "job_ids": ["5.scheduler"]}))
    assert main(["sign", str(body), "--path", "/ehpc/rerun"]) == 0
    headers = printed_headers(capsys.readouterr().out)
    # when the function gets that body with those headers on another path, then on that path
    wrong = invoke(http_event(body.read_text(), headers=headers, path="/ehpc/other"))
    right = invoke(http_event(body.read_text(), headers=headers, path="/ehpc/rerun"))
    # then refused, then accepted: one RerunJobs call
    assert (wrong["statusCode"], wrong["body"]["error"]["code"]) == (401, "SignatureDoesNotMatch")
    assert right["statusCode"] == 200
    assert sim.rerun_job_ids() == ["5.scheduler"]


def test_sign_a_get_signs_the_empty_body(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EHPC_RERUN_HTTP_SECRET", SHARED)
    assert main(["sign", "--method", "get", "--path", "/history"]) == 0
    headers = printed_headers(capsys.readouterr().out)
    expected = sign(SHARED, headers["x-ehpc-rerun-timestamp"], b"", method="GET", path="/history")
    assert headers["x-ehpc-rerun-signature"] == expected


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--method", "GET", "BODY"], "a GET is signed with an empty body"),
        ([], "POST needs BODY_FILE"),
        (["BODY", "--path", "rerun"], "--path is the URL path"),
        (["BODY", "--path", "/rerun?x=1"], "without the query string"),
    ],
)
def test_sign_usage_errors_exit_2_and_say_what_is_wrong(
    argv: list[str],
    problem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EHPC_RERUN_HTTP_SECRET", SHARED)
    body = tmp_path / "body.json"
    body.write_text("{}")
    assert main(["sign", *[str(body) if a == "BODY" else a for a in argv]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert problem in err


def test_simulator_refuses_to_listen_beyond_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "--host", "0.0.0.0", "--port", "0"]) == 2


# --- ehpc-rerun invoke: the bundled simulator, exit codes (issue 12) -------------------------------


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch, no_credentials: None) -> None:
    """A developer's shell with no endpoint, no state store and no credentials set."""
    for name in ("EHPC_RERUN_ENDPOINT", "EHPC_RERUN_STATE", "EHPC_RERUN_REGION"):
        monkeypatch.delenv(name, raising=False)


def result_of(out: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(out)  # stdout holds the result and nothing else
    return parsed


def calls_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def test_invoke_with_simulator_seeds_the_jobs_the_event_names_and_reruns_them(
    nothing_configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a sample event and nothing configured
    # when invoked with --simulator
    code = main(["invoke", str(EVENTS / "eventbridge-kafka.json"), "--simulator"])

    # then both jobs the event names were rerun on the bundled simulator, and the command says so
    out, err = capsys.readouterr()
    summary = result_of(out)
    assert code == 0
    assert summary["counts"] == {"rerun": 2}
    assert all(o["ehpc_request_id"] for o in summary["outcomes"])
    assert "bundled E-HPC simulator at http://127.0.0.1:" in err
    assert "seeded from the event (1 clusters, 2 jobs)" in err
    assert calls_line(err) == "simulator: 2 calls (ListJobs 1, RerunJobs 1)"
    # and the function's log lines went to stderr, not into the result
    assert '"type":"ehpc_rerun.outcome"' in err


def test_invoke_without_endpoint_or_credentials_uses_the_simulator(
    nothing_configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given nothing configured, when invoked without --simulator
    code = main(["invoke", str(EVENTS / "http-octet-stream.json")])
    # then the bundled simulator answered (nothing real could have been called)
    out, err = capsys.readouterr()
    assert code == 0
    response = result_of(out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["counts"] == {"rerun": 1}
    assert calls_line(err) == "simulator: 2 calls (ListJobs 1, RerunJobs 1)"


def test_simulator_flag_wins_over_a_configured_endpoint(
    sim: Simulator, settings_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    # given an endpoint configured (the test's own simulator)
    # when invoked with --simulator
    code = main(["invoke", str(EVENTS / "direct-request.json"), "--simulator"])
    # then the bundled one was used and the configured one never called
    assert code == 0
    assert "bundled E-HPC simulator" in capsys.readouterr().err
    assert sim.calls == []


def test_invoke_with_a_configured_endpoint_says_which_in_one_line(
    sim: Simulator,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an endpoint and credentials configured
    env_credentials(monkeypatch)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"cluster_id": CLUSTER, "job_ids": ["6.scheduler"]}))
    # when invoked without a flag
    code = main(["invoke", str(event)])
    # then the configured endpoint was called, and the first stderr line names it
    err = capsys.readouterr().err
    assert code == 0
    assert err.splitlines()[0] == (
        f"ehpc-rerun invoke: configured endpoint {sim.endpoint}/ (EHPC_RERUN_ENDPOINT), "
        "credentials from the ALIBABA_CLOUD_* variables"
    )
    assert sim.rerun_job_ids() == ["6.scheduler"]


def test_invoke_exits_1_when_a_record_is_rejected(
    nothing_configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the Kafka string batch whose third element is no request
    code = main(["invoke", str(EVENTS / "eventbridge-kafka-strings.json"), "--simulator"])
    # then the two good jobs were rerun, and the exit code says a record was rejected
    summary = result_of(capsys.readouterr().out)
    assert summary["counts"] == {"rejected": 1, "rerun": 2}
    assert code == 1


def test_invoke_exits_1_when_every_job_failed(
    nothing_configured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a seed in which the cluster is stopped (E-HPC refuses RerunJobs: InvalidClusterStatus)
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {"clusters": [{"id": "ehpc-hz-demo01", "status": "stopped", "jobs": [{"id": "16.scheduler"}]}]}
        )
    )
    # when the sample is invoked against it
    code = main(["invoke", str(EVENTS / "direct-request.json"), "--simulator", "--seed", str(seed)])
    # then every job failed and the exit code is 1 (regression: it was 0)
    out, err = capsys.readouterr()
    statuses = {o["status"] for o in result_of(out)["outcomes"]}
    assert "failed" in statuses
    assert "seeded from --seed (1 clusters, 1 jobs)" in err
    assert code == 1


def test_invoke_exits_1_when_the_handler_raises(
    sim: Simulator,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given the configured endpoint failing transiently, so the handler asks for redelivery
    env_credentials(monkeypatch)
    settings_env(retry_max_attempts=1)
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503, times=5)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"cluster_id": CLUSTER, "job_ids": ["8.scheduler"]}))
    # when invoked
    code = main(["invoke", str(event)])
    # then the raise is reported on stderr and the exit code is 1
    assert code == 1
    raised = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert raised["raised"] == "TransientFailures"  # RedeliveryRequested: the trigger redelivers
    assert "8.scheduler" in raised["message"]


@pytest.mark.parametrize(
    ("path", "status", "expected"), [("/health", 200, 0), ("/", 404, 1)], ids=["health", "unlisted-path"]
)
def test_invoke_of_an_http_event_reads_the_status_code(
    path: str,
    status: int,
    expected: int,
    nothing_configured: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an HTTP trigger event with no jobs in it: only the status code tells success from failure
    event = tmp_path / "get.json"
    event.write_text(json.dumps(http_event(None, method="GET", path=path, content_type=None)))
    # when invoked
    code = main(["invoke", str(event), "--simulator"])
    # then the exit code follows the status code
    out, err = capsys.readouterr()
    assert result_of(out)["statusCode"] == status
    assert code == expected
    assert calls_line(err) == "simulator: 0 calls"


def test_invoke_of_an_event_it_cannot_understand_exits_1(
    nothing_configured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "odd.json"
    event.write_text('["hello", "world"]')
    assert main(["invoke", str(event), "--simulator"]) == 1
    assert result_of(capsys.readouterr().out)["error"]["code"] == "InvalidEvent"


@pytest.mark.parametrize(
    "argv",
    [
        ["invoke"],
        ["invoke", "/nonexistent/event.json"],
        ["invoke", "EVENT", "--bogus"],
        ["invoke", "EVENT", "--no-simulator", "--seed", "SEED"],
        ["invoke", "EVENT", "--simulator", "--seed", "/nonexistent/seed.json"],
        ["invoke", "EVENT", "--simulator", "--seed", "BADSEED"],
        ["invoke", "EVENT", "--simulator", "--seed", "LISTSEED"],
    ],
    ids=[
        "no-file",
        "missing-file",
        "unknown-option",
        "seed-without-simulator",
        "missing-seed",
        "bad-seed",
        "list-seed",
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], nothing_configured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given arguments that cannot work
    files = {
        "EVENT": EVENTS / "direct-request.json",
        "SEED": tmp_path / "seed.json",
        "BADSEED": tmp_path / "bad.json",
        "LISTSEED": tmp_path / "list.json",
    }
    files["SEED"].write_text('{"clusters": []}')
    files["BADSEED"].write_text('{"clusters": [{"no": "id"}]}')
    files["LISTSEED"].write_text("[]")
    args = [str(files[a]) if a in files else a for a in argv]
    # when run, then exit 2 with a message and no result
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error" in err


def test_invoke_help_documents_the_simulator_credentials_seed_format_and_exit_codes() -> None:
    # given the invoke sub-command's help
    from ehpc_rerun.cli_invoke import INVOKE_EPILOG
    from ehpc_rerun.localrun import SIM_KEY_ID, SIM_SECRET, SIM_TOKEN
    from ehpc_rerun.simulator.__main__ import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

    # then it names the fake credentials the function gets (the `ehpc-rerun simulator` defaults) ...
    assert (SIM_KEY_ID, SIM_SECRET) == (DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    assert f"access key id {SIM_KEY_ID}, secret {SIM_SECRET}, STS token {SIM_TOKEN}" in INVOKE_EPILOG
    # ... a seed the simulator really loads ...
    seed_text = INVOKE_EPILOG.split("seed file")[1].split("cluster:")[0]
    seed = json.loads(seed_text[seed_text.index("{") :])
    with Simulator() as simulator:
        simulator.load_seed(seed)
        assert [j.state for j in simulator.jobs("ehpc-hz-demo01")] == ["RUNNING", "FINISHED"]
    # ... and the exit codes
    assert "exit status:" in INVOKE_EPILOG
    for code in ("  0  ", "  1  ", "  2  "):
        assert code in INVOKE_EPILOG


# --- ehpc-rerun tablestore: the passthrough to the local Tablestore server --------------------------


def test_tablestore_passthrough_prints_the_state_url_first(tmp_path: Path) -> None:
    # given the command run as a user would, with fake credentials in the environment
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
    }
    env.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ehpc_rerun.cli", "tablestore", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # when it starts, then its first stdout line is an EHPC_RERUN_STATE value on loopback
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("tablestore+http://127.0.0.1:")
        assert first.endswith("/ehpc-rerun/ehpc_rerun_state")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_tablestore_passthrough_passes_its_arguments(
    no_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # given no credentials anywhere, when the server is asked to start, then its own usage error comes back
    assert main(["tablestore", "--port", "0"]) == 2
    assert "no credentials" in capsys.readouterr().err


def test_invoke_against_the_simulator_never_notifies_channels_configured_in_the_shell(
    nothing_configured: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a DingTalk robot configured in the shell, at an address where nothing listens
    monkeypatch.setenv("EHPC_RERUN_DINGTALK_WEBHOOK", "http://127.0.0.1:9/robot/send?access_token=x")
    monkeypatch.setenv("EHPC_RERUN_DINGTALK_STATUSES", "rerun")
    # when an event is invoked against the simulator
    code = main(["invoke", str(EVENTS / "eventbridge-kafka.json"), "--simulator"])
    # then the sink was switched off for the run (no sink_failed line), and the command said so
    out, err = capsys.readouterr()
    assert code == 0
    assert result_of(out)["counts"] == {"rerun": 2}
    assert "sinks off against the simulator: EHPC_RERUN_DINGTALK_WEBHOOK" in err
    assert "sink_failed" not in err
