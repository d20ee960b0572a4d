"""The real Alibaba Cloud SDK talking to the simulator over real HTTP: happy paths and API errors."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_ehpc20180412 import models as m
from alibabacloud_ehpc20180412.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_openapi.utils import Utils as SdkUtils
from alibabacloud_tea_util.models import RuntimeOptions
from darabonba.request import DaraRequest

from ehpc_rerun.simulator import Simulator
from ehpc_rerun.simulator.__main__ import main

AK, SECRET, TOKEN = "test-ak-id", "test-secret-not-real", "test-sts-token"
CLUSTER = "ehpc-hz-demo01"
HANDLER_DIR = Path(__file__).resolve().parents[2] / "handler"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(access_keys={AK: SECRET}, security_tokens={AK: TOKEN}) as s:
        s.add_cluster(CLUSTER)
        yield s


def make_client(sim: Simulator, *, secret: str = SECRET, token: str | None = TOKEN, ak: str = AK) -> Client:
    cfg = Config(
        access_key_id=ak,
        access_key_secret=secret,
        security_token=token,
        region_id="cn-hangzhou",
        endpoint=sim.host,
        protocol="http",
        read_timeout=2000,
        connect_timeout=1000,
    )
    return Client(cfg)


def rerun(client: Client, *ids: str, async_: bool | None = True, cluster: str = CLUSTER) -> Any:
    jobs = json.dumps([{"Id": i} for i in ids])
    return client.rerun_jobs(m.RerunJobsRequest(cluster_id=cluster, jobs=jobs, async_=async_))


def api_error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    return info.value


# ---- RerunJobs -----------------------------------------------------------------------------------


def test_rerun_with_sts_credentials_is_verified_recorded_and_applied(sim: Simulator) -> None:
    # Given a running job
    sim.add_job(CLUSTER, "1.scheduler", start_time="2024-05-01T08:00:00.000Z")
    # When the SDK reruns it with STS credentials and Async
    resp = rerun(make_client(sim), "1.scheduler")
    # Then the call was signed correctly, with the token and Async=True on the wire
    (call,) = sim.calls_for("RerunJobs")
    assert call.signature_valid and call.status == 200 and call.applied
    assert (call.access_key_id, call.security_token) == (AK, TOKEN)
    assert call.headers["x-acs-security-token"] == TOKEN
    assert "x-acs-security-token" in call.headers["authorization"]
    assert call.query["Async"] == "True" and call.async_ is True
    assert call.version == "2018-04-12" and call.method == "GET"
    assert "Action=" not in call.raw_query
    assert call.headers["host"] == sim.host
    # And the SDK saw the RequestId the simulator answered (upper-case uuid4)
    assert resp.body.request_id == call.response["RequestId"] == call.request_id
    assert len(resp.body.request_id) == 36 and resp.body.request_id == resp.body.request_id.upper()
    # And the job was rerun
    job = sim.job(CLUSTER, "1.scheduler")
    assert (job.rerun_count, job.state, job.start_time) == (1, "QUEUED", "")
    assert sim.rerun_job_ids() == ["1.scheduler"] == sim.rerun_job_ids(CLUSTER)
    assert sim.rerun_job_ids("other-cluster") == []


def test_job_ids_with_space_tilde_and_star_are_signed_and_rerun(sim: Simulator) -> None:
    for job_id in ("a b~*", "2.sched/x+y", "作业 3"):
        sim.add_job(CLUSTER, job_id)
    rerun(make_client(sim), "a b~*", "2.sched/x+y", "作业 3", async_=False)
    (call,) = sim.calls
    assert call.signature_valid
    assert "%22a+b~%2A%22" in call.raw_query  # form-encoded on the wire ('+' for space)
    assert call.job_ids == ["a b~*", "2.sched/x+y", "作业 3"]
    assert call.async_ is False and call.query["Async"] == "False"
    assert [sim.job(CLUSTER, j).rerun_count for j in call.job_ids] == [1, 1, 1]


def test_rerun_without_async_sends_no_async_and_queued_job_can_be_rerun(sim: Simulator) -> None:
    sim.add_job(CLUSTER, "q1", state="QUEUED")
    rerun(make_client(sim), "q1", async_=None)
    (call,) = sim.calls
    assert "Async" not in call.query and call.async_ is None
    assert sim.job(CLUSTER, "q1").rerun_count == 1


def test_wrong_secret_is_rejected_as_signature_does_not_match_and_nothing_changes(sim: Simulator) -> None:
    sim.add_job(CLUSTER, "1")
    err = api_error(lambda: rerun(make_client(sim, secret="test-wrong-secret"), "1"))
    assert (err.code, err.status_code) == ("SignatureDoesNotMatch", 400)
    (call,) = sim.calls
    assert not call.signature_valid and not call.applied and call.code == "SignatureDoesNotMatch"
    assert set(call.response) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert err.request_id == call.response["RequestId"]
    assert sim.job(CLUSTER, "1").rerun_count == 0


@pytest.mark.parametrize(
    ("client_kw", "status", "code"),
    [
        ({"ak": "test-unknown-ak"}, 404, "InvalidAccessKeyId.NotFound"),
        ({"token": None}, 400, "MissingSecurityToken"),
        ({"token": "test-other-token"}, 400, "InvalidSecurityToken.MismatchWithAccessKey"),
    ],
)
def test_credential_problems_surface_as_client_exceptions(
    sim: Simulator, client_kw: dict[str, Any], status: int, code: str
) -> None:
    sim.add_job(CLUSTER, "1")
    err = api_error(lambda: rerun(make_client(sim, **client_kw), "1"))
    assert (err.status_code, err.code) == (status, code)
    assert sim.calls[0].code == code and sim.job(CLUSTER, "1").rerun_count == 0


@pytest.mark.parametrize(
    ("cluster", "jobs", "async_", "status", "code"),
    [
        ("", '[{"Id": "1"}]', None, 400, "MissingClusterId"),
        ("ehpc-nope", '[{"Id": "1"}]', None, 404, "ClusterNotFound"),
        ("stopped", '[{"Id": "1"}]', None, 403, "InvalidClusterStatus"),
        (CLUSTER, None, None, 400, "MissingJobs"),
        (CLUSTER, "not json", None, 400, "InvalidParams"),
        (CLUSTER, "[]", None, 400, "InvalidParams"),
        (CLUSTER, '[{"Id": 1}]', None, 400, "InvalidParams"),
        (CLUSTER, '{"Id": "1"}', None, 400, "InvalidParams"),
        (CLUSTER, json.dumps([{"Id": str(i)} for i in range(101)]), None, 400, "InvalidParams"),
        (CLUSTER, '[{"Id": "1"}]', "maybe", 400, "InvalidParams"),
    ],
)
def test_invalid_rerun_requests_are_rejected_with_the_documented_code(
    sim: Simulator, cluster: str, jobs: str | None, async_: Any, status: int, code: str
) -> None:
    sim.add_cluster("stopped", status="stopped")
    for i in range(101):
        sim.add_job(CLUSTER, str(i))
    sim.add_job("stopped", "1")
    req = m.RerunJobsRequest(cluster_id=cluster or None, jobs=jobs, async_=async_)
    err = api_error(lambda: make_client(sim).rerun_jobs(req))
    assert (err.status_code, err.code) == (status, code)
    assert sim.rerun_job_ids() == []
    assert all(j.rerun_count == 0 for j in sim.jobs(CLUSTER))
    if code == "InvalidParams":
        assert err.data["Message"].startswith("The specified parameter ")


def test_101_jobs_are_invalid_but_100_are_accepted(sim: Simulator) -> None:
    for i in range(101):
        sim.add_job(CLUSTER, f"{i}.sched")
    ids = [f"{i}.sched" for i in range(101)]
    err = api_error(lambda: rerun(make_client(sim), *ids))
    assert err.code == "InvalidParams" and "Jobs" in err.data["Message"]
    rerun(make_client(sim), *ids[:100])
    assert sim.rerun_job_ids() == ids[:100]
    assert sim.job(CLUSTER, "100.sched").rerun_count == 0


def test_rerun_of_finished_job_among_running_ones_is_rejected_with_406_and_nothing_changes(
    sim: Simulator,
) -> None:
    sim.add_job(CLUSTER, "r1")
    sim.add_job(CLUSTER, "done", state="FINISHED")
    sim.add_job(CLUSTER, "r2", state="QUEUED")
    before = sim.jobs(CLUSTER)
    err = api_error(lambda: rerun(make_client(sim), "r1", "done", "ghost", "r2"))
    assert (err.status_code, err.code) == (406, "AgentError.Job.RerunFailure")
    assert "done" in err.data["Message"] and "ghost" in err.data["Message"]
    assert "r1 " not in err.data["Message"]
    assert sim.jobs(CLUSTER) == before
    (call,) = sim.calls
    assert call.job_ids == ["r1", "done", "ghost", "r2"] and not call.applied


# ---- ListJobs / DescribeJob ------------------------------------------------------------------------


def test_list_jobs_pages_120_jobs_as_50_50_20_in_insertion_order(sim: Simulator) -> None:
    ids = [f"{i}.scheduler" for i in range(120)]
    for job_id in ids:
        sim.add_job(CLUSTER, job_id, submit_time="2024-05-01T08:00:00.000Z")
    client, seen = make_client(sim), []
    for page in (1, 2, 3):
        body = client.list_jobs(m.ListJobsRequest(cluster_id=CLUSTER, page_number=page, page_size=50)).body
        assert (body.total_count, body.page_number, body.page_size) == (120, page, 50)
        seen.append([j.id for j in body.jobs.job_info])
    assert [len(p) for p in seen] == [50, 50, 20]
    assert [job_id for page in seen for job_id in page] == ids
    first = sim.calls[0].response["Jobs"]["JobInfo"][0]
    assert first["SubmitTime"] == "2024-05-01T08:00:00.000Z" and first["Priority"] == "0"
    assert first["Resources"] == {"Cores": 1, "Nodes": 1}


def test_list_jobs_filters_by_state_owner_and_rerunable(sim: Simulator) -> None:
    sim.add_job(CLUSTER, "r", owner="alice")
    sim.add_job(CLUSTER, "q", state="QUEUED", owner="bob")
    sim.add_job(CLUSTER, "f", state="FINISHED", owner="alice")
    client = make_client(sim)

    def ids(**kw: Any) -> list[str]:
        body = client.list_jobs(m.ListJobsRequest(cluster_id=CLUSTER, **kw)).body
        return [j.id for j in body.jobs.job_info]

    assert ids() == ["r", "q", "f"]
    assert ids(state="notfinish") == ["r", "q"]
    assert ids(state="finished") == ["f"]
    assert ids(owner="alice") == ["r", "f"]
    assert ids(rerunable=True) == ["r", "q"]
    assert ids(state="finished", rerunable=True) == []
    assert sim.calls[0].query == {"ClusterId": CLUSTER}


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        ({"state": "done"}, 400, "InvalidParams"),
        ({"page_size": 51}, 400, "InvalidParams"),
        ({"page_size": 0}, 400, "InvalidParams"),
        ({"page_number": 0}, 400, "InvalidParams"),
        ({"cluster_id": "ehpc-nope"}, 404, "ClusterNotFound"),
    ],
)
def test_bad_list_jobs_parameters_are_rejected(
    sim: Simulator, kw: dict[str, Any], status: int, code: str
) -> None:
    req = m.ListJobsRequest(**{"cluster_id": CLUSTER, **kw})
    err = api_error(lambda: make_client(sim).list_jobs(req))
    assert (err.status_code, err.code) == (status, code)


def test_list_jobs_stays_fast_with_50_clusters_of_2000_jobs() -> None:
    seed = {
        "clusters": [
            {
                "id": f"c{c}",
                "jobs": [{"id": f"{j}.s", "state": "RUNNING" if j % 2 else "FINISHED"} for j in range(2000)],
            }
            for c in range(50)
        ]
    }
    with Simulator(access_keys={AK: SECRET}) as s:
        s.load_seed(seed)
        client = make_client(s, token=None)
        started = time.perf_counter()
        for c in range(0, 50, 5):
            body = client.list_jobs(
                m.ListJobsRequest(cluster_id=f"c{c}", state="notfinish", page_size=50)
            ).body
            assert body.total_count == 1000
        assert time.perf_counter() - started < 2.0


def test_describe_job_returns_job_info_as_a_json_string(sim: Simulator) -> None:
    sim.add_job(CLUSTER, "7.sched", owner="carol", name="cfd", submit_time="2024-01-02T03:04:05.000Z")
    body = make_client(sim).describe_job(m.DescribeJobRequest(cluster_id=CLUSTER, job_id="7.sched")).body
    info = json.loads(body.message.job_info)
    assert (info["Id"], info["Owner"], info["Name"], info["State"]) == ("7.sched", "carol", "cfd", "RUNNING")
    assert info["SubmitTime"] == "2024-01-02T03:04:05.000Z"
    err = api_error(
        lambda: make_client(sim).describe_job(m.DescribeJobRequest(cluster_id=CLUSTER, job_id="x"))
    )
    assert (err.status_code, err.code) == (400, "InvalidParams")


# ---- gateway-level checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "version", "status", "code"),
    [
        ("StopJobs", "2018-04-12", 404, "InvalidAction.NotFound"),
        ("ListJobs", "2024-07-30", 400, "NoSuchVersion"),
    ],
)
def test_unknown_action_or_version_is_rejected(
    sim: Simulator, action: str, version: str, status: int, code: str
) -> None:
    params = open_api_models.Params(
        action=action,
        version=version,
        protocol="HTTP",
        pathname="/",
        method="GET",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    req = open_api_models.OpenApiRequest(query={"ClusterId": CLUSTER})
    err = api_error(lambda: make_client(sim).call_api(params, req, RuntimeOptions()))
    assert (err.status_code, err.code) == (status, code)
    assert sim.calls[0].action == action and sim.calls[0].signature_valid


def signed_raw_request(
    sim: Simulator, query: dict[str, str], *, date: str | None = None
) -> tuple[str, dict[str, str]]:
    """A RerunJobs request signed by the SDK's own signer, to be sent (and replayed) by hand."""
    req = DaraRequest()
    req.method, req.pathname, req.query = "GET", "/", query
    req.headers = {
        "host": sim.host,
        "x-acs-action": "ListJobs",
        "x-acs-version": "2018-04-12",
        "x-acs-date": date or SdkUtils.get_timestamp(),
        "x-acs-signature-nonce": SdkUtils.get_nonce(),
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-acs-accesskey-id": AK,
        "x-acs-security-token": TOKEN,
    }
    payload = req.headers["x-acs-content-sha256"]
    req.headers["authorization"] = SdkUtils.get_authorization(req, "ACS3-HMAC-SHA256", payload, AK, SECRET)
    return "/?" + urlencode(query), dict(req.headers)


def send(sim: Simulator, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read()), resp.getheader("Content-Type")
    finally:
        conn.close()


def test_replayed_nonce_is_rejected_with_signature_nonce_used(sim: Simulator) -> None:
    path, headers = signed_raw_request(sim, {"ClusterId": CLUSTER})
    first = send(sim, path, headers)
    second = send(sim, path, headers)
    assert first[0] == 200 and first[2] == "application/json;charset=utf-8"
    assert (second[0], second[1]["Code"]) == (400, "SignatureNonceUsed")


def test_request_dated_20_minutes_ago_is_expired(sim: Simulator) -> None:
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 20 * 60))
    status, body, _ = send(sim, *signed_raw_request(sim, {"ClusterId": CLUSTER}, date=old))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    assert body["HostId"] == sim.host and body["Code"] in body["Recommend"]


def test_request_without_authorization_is_incomplete_signature(sim: Simulator) -> None:
    path, headers = signed_raw_request(sim, {"ClusterId": CLUSTER})
    del headers["authorization"]
    status, body, _ = send(sim, path, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    assert sim.calls[0].status == 400 and not sim.calls[0].signature_valid


# ---- seed file and the command line ------------------------------------------------------------------


def test_main_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_simulator_refuses_to_bind_a_non_loopback_address() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Simulator(bind_address="10.0.0.1")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_line_serves_a_seed_file_until_interrupted(tmp_path: Path, stop_signal: int) -> None:
    seed = {
        "clusters": [{"id": CLUSTER, "region": "cn-hangzhou", "status": "running", "jobs": [{"id": "1.s"}]}]
    }
    (tmp_path / "seed.json").write_text(json.dumps(seed), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(HANDLER_DIR)}
    cmd = [
        sys.executable,
        "-m",
        "ehpc_rerun.simulator",
        "--seed",
        str(tmp_path / "seed.json"),
        "--latency",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("E-HPC simulator listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        cfg = Config(
            access_key_id=AK,
            access_key_secret=SECRET,
            endpoint=f"127.0.0.1:{port}",
            protocol="http",
            read_timeout=2000,
            connect_timeout=1000,
        )
        body = Client(cfg).list_jobs(m.ListJobsRequest(cluster_id=CLUSTER)).body
        assert [j.id for j in body.jobs.job_info] == ["1.s"]
    finally:
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
