"""Alerts repeat, queues redeliver, operators click twice: each job is rerun exactly once."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, KEY_ID, SECRET, TOKEN, context, request, statuses
from tests.resilience.workers import handle_in_fresh_process

JOBS = [f"{n}.scheduler" for n in range(1, 6)]
EVENT = json.dumps(
    [
        {
            "specversion": "1.0",
            "id": "evt-1",
            "source": "MNS-f-t",
            "type": "mns:Queue:SendMessage",
            "data": {"messageId": "m-1", "messageBody": json.dumps(request(JOBS, reason="stuck"))},
        }
    ]
).encode()


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest, settings_env: Callable[..., None], tmp_path: Path) -> str:
    url = (
        str(request.getfixturevalue("redis_url"))
        if request.param == "redis"
        else f"sqlite:///{tmp_path / 's.db'}"
    )
    settings_env(state=url)
    return url


def test_same_event_delivered_ten_times_reruns_each_job_once(
    sim: Simulator, store_env: str, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a queue that delivers the same message ten times
    results = [invoke(EVENT, request_id=f"delivery-{n}") for n in range(10)]

    # then E-HPC saw each job rerun exactly once, and the other nine deliveries were duplicates
    assert Counter(sim.rerun_job_ids()) == dict.fromkeys(JOBS, 1)
    assert statuses(results[0]) == {f"{CLUSTER}/{j}": "rerun" for j in JOBS}
    for result in results[1:]:
        assert set(statuses(result).values()) == {"duplicate"}
        assert "delivery-0" in result["outcomes"][0]["message"]


def test_same_event_from_ten_threads_at_once_reruns_each_job_once(
    sim: Simulator, store_env: str, settings_env: Callable[..., None]
) -> None:
    # given ten instances handling the same delivery at the same moment (threads sharing one store)
    sim.set_latency(0.05)
    barrier = threading.Barrier(10)
    results: list[Any] = []

    def deliver(n: int) -> None:
        barrier.wait()
        results.append(app.handler(EVENT, context(request_id=f"thread-{n}")))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then exactly one RerunJobs per job across all of them
    assert len(results) == 10
    assert Counter(sim.rerun_job_ids()) == dict.fromkeys(JOBS, 1)
    all_statuses = Counter(s for r in results for s in statuses(json.loads(r)).values())
    assert all_statuses == {"rerun": 5, "duplicate": 45}


def test_same_event_from_four_processes_sharing_a_store_reruns_each_job_once(
    sim: Simulator, store_env: str, tmp_path: Path
) -> None:
    # given four separate processes (FC instances) sharing one store
    sim.set_latency(0.05)
    env = {
        "EHPC_RERUN_ENDPOINT": sim.endpoint,
        "EHPC_RERUN_STATE": store_env,
        "EHPC_RERUN_REGION": "cn-hangzhou",
        "TEST_KEY_ID": KEY_ID,
        "TEST_SECRET": SECRET,
        "TEST_TOKEN": TOKEN,
    }
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(4) as pool:
        outputs = pool.starmap(handle_in_fresh_process, [(env, EVENT, f"proc-{n}") for n in range(4)])

    # then each job was rerun once in all
    assert Counter(sim.rerun_job_ids()) == dict.fromkeys(JOBS, 1)
    all_statuses = Counter(s for out in outputs for s in statuses(json.loads(out)).values())
    assert all_statuses == {"rerun": 5, "duplicate": 15}
