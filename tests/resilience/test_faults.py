"""E-HPC throttles, fails and drops connections: every job ends rerun or reported, none rerun twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.errors import RedeliveryRequested
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, request, statuses

JOBS = [f"{n}.scheduler" for n in range(1, 11)]


def never_twice(sim: Simulator) -> None:
    counts = Counter(sim.rerun_job_ids())
    assert all(n == 1 for n in counts.values()), counts
    for job in counts:
        assert sim.job(CLUSTER, job).rerun_count == 1


def test_throttling_on_every_second_call_is_retried_until_all_jobs_are_rerun(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given E-HPC throttles every 2nd RerunJobs call and the plan makes 5 calls of 2 jobs
    settings_env(jobs_per_call=2)
    sim.throttle_every("RerunJobs", 2)

    # when the request is handled
    result = invoke(request(JOBS))

    # then every job was rerun exactly once, and throttled calls were retried
    assert set(statuses(result).values()) == {"rerun"}
    never_twice(sim)
    codes = [c.code for c in sim.calls_for("RerunJobs")]
    assert codes.count("Throttling.User") >= 2
    retried = [o for o in result["outcomes"] if o["attempts"] > 1]
    assert retried and all(o["detail"]["retried_errors"] for o in retried)


def test_503_on_the_first_two_calls_is_retried_with_backoff(
    sim: Simulator, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given E-HPC answers 503 ServiceUnavailable twice
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503, times=2)

    result = invoke(request(JOBS))

    # then the third attempt reruns every job
    assert set(statuses(result).values()) == {"rerun"}
    assert [c.status for c in sim.calls_for("RerunJobs")] == [503, 503, 200]
    assert {o["attempts"] for o in result["outcomes"]} == {3}
    never_twice(sim)


def test_retry_after_header_is_honoured(sim: Simulator, invoke: Callable[..., dict[str, Any]]) -> None:
    # given a throttling answer with x-acs-retry-after: 1
    sim.fail_next("RerunJobs", "Throttling", 400, retry_after=1)

    started = time.monotonic()
    result = invoke(request(JOBS[:1]))

    # then the retry waited at least a second and succeeded
    calls = sim.calls_for("RerunJobs")
    assert [c.status for c in calls] == [400, 200]
    assert calls[1].started_at - calls[0].started_at >= 0.95
    assert time.monotonic() - started >= 0.95
    assert set(statuses(result).values()) == {"rerun"}


def test_answer_lost_after_the_rerun_happened_is_confirmed_by_listjobs_not_repeated(
    sim: Simulator, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given the connection drops after E-HPC applied the rerun
    sim.drop_connection_next("RerunJobs", after_apply=True)

    result = invoke(request(JOBS[:3]))

    # then the jobs are reported rerun (confirmed by ListJobs) and RerunJobs was not sent again
    assert set(statuses(result).values()) == {"rerun"}
    assert all(o["detail"]["confirmed_by"] == "ListJobs" for o in result["outcomes"])
    assert len(sim.calls_for("RerunJobs")) == 1
    never_twice(sim)


def test_answer_lost_with_no_visible_change_is_unknown_and_never_repeated_blindly(
    sim: Simulator, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given the connection drops and ListJobs shows no change
    sim.drop_connection_next("RerunJobs", after_apply=False)

    first = invoke(request(JOBS[:3]))
    second = invoke(request(JOBS[:3]))

    # then the jobs are 'unknown' with the code, the redelivery does not repeat the call, nothing ran twice
    assert set(statuses(first).values()) == {"unknown"}
    assert {o["error_code"] for o in first["outcomes"]} == {"ResponseLost"}
    assert set(statuses(second).values()) == {"duplicate"}
    assert len(sim.calls_for("RerunJobs")) == 1


def test_transient_failures_past_the_retries_raise_for_redelivery_then_the_replay_reruns_only_them(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given two clusters handled one after the other, and E-HPC answering 503 to the first three calls
    settings_env(retry_max_attempts=3, max_parallel_clusters=1)
    sim.add_cluster("ehpc-hz-other02")
    sim.add_job("ehpc-hz-other02", "1.pbs")
    event = [request(["1.scheduler"]), request(["1.pbs"], cluster="ehpc-hz-other02")]
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503, times=3)

    # when the batch is handled, the handler raises so the trigger redelivers, naming the failed job
    with pytest.raises(RedeliveryRequested) as raised:
        invoke(event)
    assert f"{CLUSTER}/1.scheduler (ServiceUnavailable)" in raised.value.message
    assert "1.pbs" not in raised.value.message
    assert sim.rerun_job_ids() == ["1.pbs"]

    # and the redelivery reruns only the job that failed
    replay = invoke(event)
    assert Counter(statuses(replay).values()) == {"rerun": 1, "duplicate": 1}
    assert [o["cluster_id"] for o in replay["outcomes"] if o["status"] == "rerun"] == [CLUSTER]
    assert sorted(sim.rerun_job_ids()) == ["1.pbs", "1.scheduler"]


def test_permanent_errors_are_reported_with_their_code_and_not_retried(
    sim: Simulator, invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a cluster E-HPC does not know
    result = invoke(request(["1.scheduler"], cluster="ehpc-hz-gone99"))

    # then one ListJobs call, no retries, and the job failed with E-HPC's code
    assert [c.code for c in sim.calls] == ["ClusterNotFound"]
    (outcome,) = result["outcomes"]
    assert (outcome["status"], outcome["error_code"], outcome["transient"]) == (
        "failed",
        "ClusterNotFound",
        False,
    )
    assert outcome["detail"]["http_status"] == 404


@pytest.mark.parametrize(
    ("code", "status"),
    [("InvalidClusterStatus", 403), ("InvalidParams", 400), ("ConflictOpt", 403), ("UnknownError", 500)],
)
def test_every_documented_error_code_reaches_the_outcome(
    code: str,
    status: int,
    sim: Simulator,
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
) -> None:
    settings_env(retry_max_attempts=2)
    sim.fail_next("RerunJobs", code, status, times=2)
    try:
        result = invoke(request(["1.scheduler"]))
    except RedeliveryRequested as exc:  # transient codes raise after publishing
        assert code in exc.message
        return
    (outcome,) = result["outcomes"]
    assert (outcome["status"], outcome["error_code"]) == ("failed", code)


def test_connection_refused_is_transient_and_nothing_is_lost(
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an endpoint where nothing listens
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings_env(endpoint=f"http://127.0.0.1:{port}", retry_max_attempts=2)

    # then the handler asks for redelivery, and the outcome was still written
    with pytest.raises(RedeliveryRequested, match="ConnectionFailed"):
        invoke(request(["1.scheduler"]))
    assert '"status":"failed"' in capsys.readouterr().out


def test_a_bug_in_one_clusters_run_keeps_the_others_and_never_repeats_blindly(
    sim: Simulator,
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two clusters, and an unexpected error while running the second one
    from ehpc_rerun.ehpc import executor

    sim.add_cluster("ehpc-hz-other02")
    sim.add_job("ehpc-hz-other02", "1.pbs")
    real = executor.run_cluster

    def broken(plan: Any, api: Any, config: Any) -> Any:
        if plan.cluster_id == "ehpc-hz-other02":
            raise RuntimeError("unexpected")
        return real(plan, api, config)

    monkeypatch.setattr(executor, "run_cluster", broken)
    event = [request(["1.scheduler"]), request(["1.pbs"], cluster="ehpc-hz-other02")]
    first = invoke(event)
    monkeypatch.setattr(executor, "run_cluster", real)
    second = invoke(event)

    # then the healthy cluster was rerun, the broken one is 'unknown' (maybe sent), and neither repeats
    assert statuses(first) == {f"{CLUSTER}/1.scheduler": "rerun", "ehpc-hz-other02/1.pbs": "unknown"}
    broken_outcome = next(o for o in first["outcomes"] if o["job_id"] == "1.pbs")
    assert broken_outcome["error_code"] == "InternalError"
    assert "RuntimeError" in broken_outcome["message"]
    assert set(statuses(second).values()) == {"duplicate"}
    assert sim.rerun_job_ids() == ["1.scheduler"]


def test_all_faults_at_once_then_redelivery_every_job_accounted_for_and_none_rerun_twice(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given three clusters, 30 jobs in calls of 5, and E-HPC throttling every 2nd call, answering 503 to the
    # first two and dropping one connection after applying the rerun
    settings_env(jobs_per_call=5, retry_max_attempts=3, max_parallel_clusters=3)
    clusters = [CLUSTER, "ehpc-hz-chaos02", "ehpc-hz-chaos03"]
    for cluster in clusters[1:]:
        sim.add_cluster(cluster)
        for n in range(1, 11):
            sim.add_job(cluster, f"{n}.scheduler")
    event = [request([f"{n}.scheduler" for n in range(1, 11)], cluster=c) for c in clusters]
    sim.throttle_every("RerunJobs", 2)
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503, times=2)
    sim.drop_connection_next("RerunJobs", after_apply=True)

    # when the trigger redelivers for as long as the handler asks it to
    final: dict[str, str] = {}
    for _ in range(6):
        try:
            final.update(statuses(invoke(event)))
            break
        except RedeliveryRequested:
            continue

    # then every job has a final outcome: rerun this time, or earlier (duplicate on the replay)
    wanted = {f"{c}/{n}.scheduler" for c in clusters for n in range(1, 11)}
    assert set(final) == wanted
    assert set(final.values()) <= {"rerun", "duplicate"}
    # (the faults really happened)
    codes = [(c.status, c.fault) for c in sim.calls_for("RerunJobs")]
    assert (503, "fail") in codes and (0, "drop") in codes and (400, "throttle") in codes
    # and E-HPC saw each job rerun exactly once, whatever the faults
    for cluster in clusters:
        for n in range(1, 11):
            assert sim.job(cluster, f"{n}.scheduler").rerun_count == 1, (cluster, n)
