"""Every sample event in events/ becomes the right signed RerunJobs calls on the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ehpc_rerun.demo import SEED
from ehpc_rerun.simulator import Simulator
from tests.conftest import EVENTS, KEY_ID, SECRET, TOKEN

HZ, SH = "ehpc-hz-demo01", "ehpc-sh-demo02"

EXPECTED_CALLS: dict[str, list[tuple[str, list[str]]]] = {
    "http-json-request.json": [(HZ, ["1.scheduler", "2.scheduler"])],
    "http-api-form.json": [(HZ, ["3.scheduler"])],
    "http-cloudmonitor-callback.json": [(HZ, ["4.scheduler"])],
    "http-cloudmonitor-ok.json": [],
    "http-octet-stream.json": [(HZ, ["22.scheduler"])],
    "http-no-content-type.json": [(HZ, ["23.scheduler"])],
    "eventbridge-mns-queue.json": [(HZ, ["5.scheduler", "6.scheduler"])],
    "eventbridge-rocketmq.json": [(HZ, ["7.scheduler"])],
    "eventbridge-kafka.json": [(HZ, ["8.scheduler", "9.scheduler"])],
    "eventbridge-kafka-strings.json": [(HZ, ["19.scheduler", "20.scheduler"])],
    "eventbridge-cloudmonitor-alert.json": [(HZ, ["10.scheduler"])],
    # a node event only names the cluster to check: ListNodes finds compute3 in exception (the demo's seed),
    # ListJobs the one running job whose NodeList names it; the job on healthy compute1 stays
    "eventbridge-ehpc-node-status.json": [(HZ, ["24.scheduler"])],
    "mns-topic-json.json": [(SH, ["1.manager", "2.manager"])],
    "mns-topic-stream-attrs.json": [(HZ, ["12.scheduler"])],
    "mns-topic-stream-raw.txt": [(HZ, ["13.scheduler"])],
    "timer-requests.json": [(HZ, ["14.scheduler", "15.scheduler"])],
    "direct-request.json": [(HZ, ["16.scheduler"])],
    "direct-batch-mixed.json": [(HZ, ["17.scheduler", "1.scheduler"])],
}


@pytest.fixture
def demo_sim(sim: Simulator) -> Iterator[Simulator]:
    sim.load_seed(SEED)  # the demo's seed: its clusters, jobs, and nodes (compute3 failed)
    yield sim


def test_every_event_file_has_an_expectation() -> None:
    # given the events folder, when listed, then each sample is covered by this test
    files = {p.name for p in EVENTS.iterdir() if p.suffix in (".json", ".txt")}
    assert files == set(EXPECTED_CALLS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
def test_sample_event_becomes_signed_async_rerun_calls(
    name: str, demo_sim: Simulator, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given the demo clusters on the simulator
    # when FC delivers the sample event as bytes
    result = invoke((EVENTS / name).read_bytes())

    # then exactly the expected RerunJobs calls were made, signed, with the STS token and Async=True
    calls = demo_sim.calls_for("RerunJobs")
    assert [(c.cluster_id, c.job_ids) for c in calls] == EXPECTED_CALLS[name]
    for call in demo_sim.calls:
        assert call.signature_valid
        assert call.access_key_id == KEY_ID
        assert call.security_token == TOKEN
        assert call.status == 200
    for call in calls:
        assert call.async_ is True
        assert call.query["Async"] == "True"
    # and every rerun job is reported with E-HPC's request id
    body = result.get("body", result)
    reruns = {o["job_id"]: o for o in body["outcomes"] if o["status"] == "rerun"}
    assert sorted(reruns) == sorted(j for _, jobs in EXPECTED_CALLS[name] for j in jobs)
    ids = {c.request_id for c in calls}
    assert all(o["ehpc_request_id"] in ids for o in reruns.values())
    assert SECRET not in str(result)


def test_log_lines_carry_one_outcome_per_job(
    demo_sim: Simulator, invoke: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    # given a batch with a valid record, an invalid one and a finished job
    import json

    invoke((EVENTS / "direct-batch-mixed.json").read_bytes(), request_id="req-42")
    invoke((EVENTS / "direct-request.json").read_bytes(), request_id="req-43")

    # then stdout holds exactly one outcome line per job, with the invocation's request id
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    outcomes = [line for line in lines if line["type"] == "ehpc_rerun.outcome"]
    assert [(o["invocation_id"], o["job_id"], o["status"]) for o in outcomes] == [
        ("req-42", "17.scheduler", "rerun"),
        ("req-42", "18.scheduler", "rejected"),
        ("req-42", "1.scheduler", "rerun"),
        ("req-43", "16.scheduler", "rerun"),
        ("req-43", "41.scheduler", "not_rerunnable"),
    ]
    rejected = outcomes[1]
    assert rejected["error_code"] == "InvalidRequest"
    assert "cluster_id" in rejected["message"]
    assert all({"cluster_id", "source", "source_id", "status"} <= set(o) for o in outcomes)
    assert sum(1 for line in lines if line["type"] == "ehpc_rerun.summary") == 2
