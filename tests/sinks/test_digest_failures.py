"""The DingTalk digest when the robot or the store fails: nothing escalated is lost, and no retry storm."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import Status
from ehpc_rerun.sinks.digest_doc import MAX_FAILED_SENDS, PENDING_KEY, WINDOW_KEY
from ehpc_rerun.sinks.dispatch import dispatch
from ehpc_rerun.state import StateStore

from .digest_helpers import WINDOW_S, Clock, escalation, lines_of, listed_jobs, messages, quiet, sinks_for
from .fakes import FakeDingTalk

OpenState = Callable[[], StateStore]


def _flood(
    robot: FakeDingTalk, store: StateStore, clock: Clock, count: int, *, first: int = 0, **settings: Any
) -> list[str]:
    results = []
    for n in range(first, first + count):
        results.append(
            dispatch(escalation(n), sinks_for(robot, lambda: store, clock, **settings))["dingtalk"]
        )
        clock.advance(1)
    return results


def test_a_throttled_robot_gets_one_attempt_and_then_rest_for_its_10_minutes_with_nothing_lost(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the robot answers "send too fast" (errcode 130101) to the next message
    store, clock = open_state(), Clock()
    dingtalk.error_next(1, code="130101", message="send too fast, exceed 20 times per minute")
    # when a flood of 30 escalating invocations comes
    results = _flood(dingtalk, store, clock, 30)
    # then the robot saw ONE attempt, and one sink_failed line carries the digest it was refused
    assert len(dingtalk.received) == 1
    assert results[0] == "failed" and set(results[1:]) == {"queued"}
    out = capsys.readouterr().out
    (failed,) = lines_of(out, "ehpc_rerun.sink_failed")
    assert (failed["sink"], failed["error_code"], failed["attempts"]) == ("dingtalk", "DingTalk.130101", 1)
    assert failed["digest"]["title"].startswith("ehpc-rerun: over_budget")
    assert [e["job_id"] for e in failed["digest"]["entries"]] == ["0-0.sched"]
    assert failed["kept_for_next_window"] == 1
    # and every job kept its own outcome line
    assert len(lines_of(out, "ehpc_rerun.outcome")) == 60
    # when invocations keep coming every 30 s for 9 more minutes
    for n in range(18):
        clock.advance(30)
        dispatch(quiet(n), sinks_for(dingtalk, lambda: store, clock))
    # then nobody pokes the throttled robot again within its 10 minutes
    assert len(dingtalk.received) == 1
    # when the throttle has passed
    clock.advance(60)
    assert dispatch(quiet(99), sinks_for(dingtalk, lambda: store, clock))["dingtalk"] == "sent"
    # then one message carries all 30, the refused one included
    assert len(messages(dingtalk)) == 1
    assert "30 over_budget" in messages(dingtalk)[0]["text"]
    assert "0-0.sched" in listed_jobs(messages(dingtalk)[0]["text"])


def test_a_robot_answering_500_gets_one_attempt_per_window_and_entries_are_given_up_after_three(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the robot answers HTTP 500 to everything
    store, clock = open_state(), Clock()
    dingtalk.fail_next(100, status=500)
    # when a flood of 20 invocations comes within the first window, and 4 more windows pass with
    # an invocation every 10 s
    _flood(dingtalk, store, clock, 20)
    for n in range(4 * WINDOW_S // 10):
        clock.advance(10)
        dispatch(quiet(n), sinks_for(dingtalk, lambda: store, clock))
    # then the robot saw one attempt per window at most (never a storm), and each failure is a line
    attempts = len(dingtalk.received)
    assert 2 <= attempts <= 5
    failed = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert len(failed) == attempts
    assert {f["error_code"] for f in failed} == {"DingTalk.HTTP500"}
    # and entries were retried in later windows, then given up after MAX_FAILED_SENDS (in those lines)
    given_up = sum(f["given_up"] for f in failed)
    assert given_up == 20
    first_job = [f for f in failed if any(e["job_id"] == "0-0.sched" for e in f["digest"]["entries"])]
    assert len(first_job) == MAX_FAILED_SENDS
    assert store.read_docs([PENDING_KEY], now_ms=clock()) == {}


def test_a_hanging_robot_is_cut_off_once_and_the_flood_does_not_wait_on_it(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the robot hangs for 5 s
    store, clock = open_state(), Clock()
    dingtalk.hang_next(10, seconds=5)
    started = time.monotonic()
    # when 15 invocations escalate within the window (sink timeout 0.3 s)
    for n in range(15):
        dispatch(escalation(n), sinks_for(dingtalk, lambda: store, clock, sink_timeout_s=0.3))
    # then one attempt was cut off, the other 14 only queued, and it all took well under 5 s
    assert time.monotonic() - started < 4.5
    assert [r.verdict for r in dingtalk.received] == ["hung"]
    (failed,) = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert failed["error_code"] == "DingTalk.Timeout"
    assert failed["kept_for_next_window"] == 1


def test_a_robot_refusing_the_signature_drops_the_digest_into_the_log_and_is_not_retried(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given we sign with a secret that is not the robot's (errcode 310000, permanent)
    store, clock = open_state(), Clock()
    wrong: dict[str, Any] = {"dingtalk_secret": "SECwrong-not-real"}
    # when 10 escalations come in one window, and one more after it
    _flood(dingtalk, store, clock, 10, **wrong)
    clock.advance(WINDOW_S)
    _flood(dingtalk, store, clock, 1, first=10, **wrong)
    # then two attempts in all (one per window); each refused digest is in a sink_failed line, dropped
    assert [r.verdict for r in dingtalk.received] == ["310000", "310000"]
    failed = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert [f["error_code"] for f in failed] == ["DingTalk.310000", "DingTalk.310000"]
    assert [f["given_up"] for f in failed] == [1, 10]
    assert [f["kept_for_next_window"] for f in failed] == [0, 0]


def test_an_unreachable_store_writes_the_escalations_to_the_log_and_the_invocation_goes_on(
    dingtalk: FakeDingTalk, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the state store cannot be reached
    def unreachable() -> StateStore:
        raise StateStoreUnavailable("cannot reach the store at 127.0.0.1:9 (connection refused)")

    report = escalation(1, Status.FAILED, jobs=3)
    # when the invocation publishes its report
    results = dispatch(report, sinks_for(dingtalk, unreachable, Clock()))
    # then the log still has every job, the escalations are in a sink_failed line, and no message went out
    assert results == {"log": "sent", "dingtalk": "failed"}
    out = capsys.readouterr().out
    assert len(lines_of(out, "ehpc_rerun.outcome")) == 4
    (failed,) = lines_of(out, "ehpc_rerun.sink_failed")
    assert failed["error_code"] == "StateStoreUnavailable"
    assert sorted(e["job_id"] for e in failed["escalations"]) == ["1-0.sched", "1-1.sched", "1-2.sched"]
    assert dingtalk.received == []


def test_a_corrupt_digest_document_is_reported_and_replaced(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the pending document holds something that is not a digest
    from ehpc_rerun.state.base import DocWrite

    store, clock = open_state(), Clock()
    store.write_docs([DocWrite(PENDING_KEY, '{"entries": "nope"}', ttl_ms=60_000)], now_ms=clock())
    # when an invocation escalates a job
    assert dispatch(escalation(1), sinks_for(dingtalk, lambda: store, clock))["dingtalk"] == "sent"
    # then the bad document is in the log, and the job went out
    (bad,) = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert bad["error_code"] == "DigestUnreadable"
    assert bad["unreadable_document"] == '{"entries": "nope"}'
    assert listed_jobs(messages(dingtalk)[0]["text"]) == ["1-0.sched"]
    assert WINDOW_KEY in store.read_docs([WINDOW_KEY], now_ms=clock())
