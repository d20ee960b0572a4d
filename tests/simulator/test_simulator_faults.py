"""Fault injection, latency and concurrency, observed through the real SDK over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alibabacloud_ehpc20180412 import models as m
from alibabacloud_ehpc20180412.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.models import Config
from darabonba.exceptions import UnretryableException
from darabonba.policy.retry import RetryOptions

from ehpc_rerun.simulator import Simulator

AK, SECRET, TOKEN = "test-ak-id", "test-secret-not-real", "test-sts-token"
CLUSTER = "ehpc-hz-demo01"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(access_keys={AK: SECRET}, security_tokens={AK: TOKEN}) as s:
        s.add_cluster(CLUSTER)
        for i in range(1, 7):
            s.add_job(CLUSTER, f"{i}.scheduler")
        yield s


def make_client(
    sim: Simulator, *, read_timeout: int = 2000, retry_options: RetryOptions | None = None
) -> Client:
    cfg = Config(
        access_key_id=AK,
        access_key_secret=SECRET,
        security_token=TOKEN,
        region_id="cn-hangzhou",
        endpoint=sim.host,
        protocol="http",
        read_timeout=read_timeout,
        connect_timeout=1000,
        retry_options=retry_options,
    )
    return Client(cfg)


def rerun(client: Client, job_id: str = "1.scheduler") -> Any:
    req = m.RerunJobsRequest(cluster_id=CLUSTER, jobs=json.dumps([{"Id": job_id}]), async_=True)
    return client.rerun_jobs(req)


def list_jobs(client: Client) -> Any:
    return client.list_jobs(m.ListJobsRequest(cluster_id=CLUSTER))


def test_server_error_fault_raises_server_exception_once_then_the_call_succeeds(sim: Simulator) -> None:
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503)
    client = make_client(sim)
    with pytest.raises(ServerException) as info:
        rerun(client)
    assert (info.value.code, info.value.status_code) == ("ServiceUnavailable", 503)
    assert info.value.data["Message"] == "The request has failed due to a temporary failure of the server."
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 0
    rerun(client)
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 1
    assert [(c.status, c.fault) for c in sim.calls] == [(503, "fail"), (200, None)]


def test_fault_with_retry_after_raises_throttling_exception_with_that_delay(sim: Simulator) -> None:
    sim.fail_next("RerunJobs", "Throttling.User", 400, retry_after=3, message="slow down")
    with pytest.raises(ThrottlingException) as info:
        rerun(make_client(sim))
    err = info.value
    assert (err.code, err.status_code, err.retry_after) == ("Throttling.User", 400, 3)
    assert "slow down" in err.message
    assert sim.calls[0].response["Code"] == "Throttling.User"


def test_fault_applies_to_its_action_only_and_is_consumed_times_in_order(sim: Simulator) -> None:
    sim.fail_next("RerunJobs", "InternalError", 500, times=2)
    sim.fail_next("RerunJobs", "Throttling.Api", 400)
    client = make_client(sim)
    assert list_jobs(client).body.total_count == 6  # ListJobs is not affected
    codes = []
    for _ in range(4):
        try:
            rerun(client)
            codes.append("ok")
        except (ClientException, ServerException) as exc:
            codes.append(exc.code)
    assert codes == ["InternalError", "InternalError", "Throttling.Api", "ok"]
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 1


def test_throttle_every_2_makes_calls_2_4_6_fail_as_client_exceptions(sim: Simulator) -> None:
    sim.throttle_every("RerunJobs", 2)
    client, outcomes = make_client(sim), []
    for i in range(1, 7):
        try:
            rerun(client, f"{i}.scheduler")
            outcomes.append("ok")
        except ClientException as exc:  # no x-acs-retry-after: not a ThrottlingException
            assert not isinstance(exc, ThrottlingException)
            outcomes.append(f"{exc.status_code} {exc.code}")
    assert outcomes == ["ok", "400 Throttling.User"] * 3
    assert sim.rerun_job_ids() == ["1.scheduler", "3.scheduler", "5.scheduler"]
    sim.throttle_every("RerunJobs", 0)
    rerun(client, "2.scheduler")
    rerun(client, "4.scheduler")
    assert sim.rerun_job_ids()[-2:] == ["2.scheduler", "4.scheduler"]


def test_dropped_connection_is_unretryable_and_the_rerun_did_not_happen(sim: Simulator) -> None:
    sim.drop_connection_next("RerunJobs")
    with pytest.raises(UnretryableException):
        rerun(make_client(sim))
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 0
    (call,) = sim.calls
    assert (call.status, call.fault, call.applied, call.signature_valid) == (0, "drop", False, True)


def test_connection_dropped_after_apply_means_the_rerun_happened_but_the_client_never_heard(
    sim: Simulator,
) -> None:
    sim.drop_connection_next("RerunJobs", after_apply=True)
    with pytest.raises(UnretryableException):
        rerun(make_client(sim))
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 1
    assert sim.job(CLUSTER, "1.scheduler").state == "QUEUED"
    assert sim.rerun_job_ids() == ["1.scheduler"]
    assert sim.calls[0].fault == "drop" and sim.calls[0].applied


def test_hang_longer_than_read_timeout_is_unretryable_and_the_rerun_already_applied(sim: Simulator) -> None:
    sim.hang_next("RerunJobs", 3.0)
    started = time.perf_counter()
    with pytest.raises(UnretryableException) as info:
        rerun(make_client(sim, read_timeout=300))
    elapsed = time.perf_counter() - started
    assert 0.25 < elapsed < 2.0
    assert "timed out" in str(info.value).lower()
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 1


def test_hang_before_apply_delays_the_state_change_until_after_the_hang(sim: Simulator) -> None:
    sim.hang_next("RerunJobs", 0.6, after_apply=False)
    with pytest.raises(UnretryableException):
        rerun(make_client(sim, read_timeout=200))
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 0
    deadline = time.monotonic() + 3
    while sim.job(CLUSTER, "1.scheduler").rerun_count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.job(CLUSTER, "1.scheduler").rerun_count == 1


def test_stop_is_prompt_while_a_hang_fault_is_sleeping() -> None:
    sim = Simulator(access_keys={AK: SECRET}, security_tokens={AK: TOKEN}).start()
    sim.add_cluster(CLUSTER)
    sim.hang_next("ListJobs", 30.0)
    raised: list[BaseException] = []

    def call() -> None:
        try:
            list_jobs(make_client(sim, read_timeout=20000))
        except Exception as exc:
            raised.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 3
    while not sim.calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.calls and sim.calls[0].fault == "hang"
    started = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - started < 1.0
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], UnretryableException)  # the answer never came


def test_sdk_retry_options_resign_the_retried_call_with_a_new_nonce(sim: Simulator) -> None:
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503)
    retry = RetryOptions(
        {
            "retryable": True,
            "retryCondition": [
                {
                    "maxAttempts": 3,
                    "exception": ["ServerException"],
                    "backoff": {"policy": "Fixed", "period": 10},
                }
            ],
        }
    )
    rerun(make_client(sim, retry_options=retry))
    first, second = sim.calls
    assert (first.status, second.status) == (503, 200)
    assert second.headers.get("x-acs-retry-attempts") == "1"
    assert first.headers["x-acs-signature-nonce"] != second.headers["x-acs-signature-nonce"]
    assert second.signature_valid and sim.job(CLUSTER, "1.scheduler").rerun_count == 1


def test_twenty_parallel_calls_with_latency_overlap(sim: Simulator) -> None:
    sim.set_latency(0.2)
    for i in range(7, 21):
        sim.add_job(CLUSTER, f"{i}.scheduler")
    ids = [f"{i}.scheduler" for i in range(1, 21)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda job_id: rerun(make_client(sim), job_id), ids))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, elapsed  # serial would take 20 x 0.2 = 4 s
    assert sorted(sim.rerun_job_ids()) == sorted(ids)
    assert len({c.thread for c in sim.calls}) > 1
    starts = sorted(c.started_at for c in sim.calls)
    in_flight_together = max(sum(1 for t in starts if s <= t < s + 0.2) for s in starts)
    assert in_flight_together >= 10, starts  # each call sleeps 0.2 s after its start


def test_latency_delays_each_call_and_clear_faults_removes_pending_faults(sim: Simulator) -> None:
    sim.set_latency(0.3)
    sim.fail_next("ListJobs", "InternalError", 500, times=5)
    sim.throttle_every("ListJobs", 1)
    sim.clear_faults()
    started = time.perf_counter()
    assert list_jobs(make_client(sim)).body.total_count == 6
    assert time.perf_counter() - started >= 0.3
    sim.reset_calls()
    assert sim.calls == []
