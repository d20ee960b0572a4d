"""The DingTalk digest: at most one message per window for the whole function, on every store backend.

Real parts only: the sinks the handler builds, a real state store (SQLite file, redis-server, the local
Tablestore server), and the DingTalk fake on 127.0.0.1 that checks the robot's signature and body.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.models import Status
from ehpc_rerun.sinks.digest_doc import PENDING_KEY, parse_pending
from ehpc_rerun.sinks.dispatch import dispatch
from ehpc_rerun.state import StateStore, open_store
from tests.state.conftest import fake_credentials

from .digest_helpers import (
    WINDOW_S,
    Clock,
    CountingStore,
    escalation,
    lines_of,
    listed_jobs,
    messages,
    more_count,
    quiet,
    sinks_for,
)
from .fakes import DING_SECRET, FakeDingTalk, FakeEventBridge, FakeMns

OpenState = Callable[[], StateStore]


def test_a_flood_within_one_window_sends_one_message_and_the_rest_in_one_digest_after_it(
    dingtalk: FakeDingTalk, open_state: OpenState, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the digest on a shared store, and a quiet robot group
    store, clock = open_state(), Clock()
    # when 30 invocations, 1.5 s apart (all within the 60 s window), each escalate an over_budget job
    for n in range(30):
        dispatch(escalation(n), sinks_for(dingtalk, lambda: store, clock))
        clock.advance(1.5)
    # then exactly one message went out in that window: the first escalation, at once
    assert len(messages(dingtalk)) == 1
    assert listed_jobs(messages(dingtalk)[0]["text"]) == ["0-0.sched"]
    # and every job still has its own outcome line (escalated or not)
    assert len(lines_of(capsys.readouterr().out, "ehpc_rerun.outcome")) == 60
    # when the window has passed and the next invocation comes
    clock.advance(WINDOW_S)
    dispatch(escalation(30), sinks_for(dingtalk, lambda: store, clock))
    # then ONE more message lists the 30 that waited: 20 by name (the default maximum), "and 10 more"
    assert len(messages(dingtalk)) == 2
    digest = messages(dingtalk)[1]
    assert digest["title"].startswith("ehpc-rerun: over_budget (30 jobs escalated)")
    assert len(listed_jobs(digest["text"])) == 20
    assert more_count(digest["text"]) == 10
    assert set(listed_jobs(digest["text"])) <= {f"{n}-0.sched" for n in range(1, 31)}
    assert "30 over_budget" in digest["text"]
    assert 'message.type: "ehpc_rerun.outcome" and (message.status: over_budget)' in digest["text"]
    # and nothing is left waiting
    assert store.read_docs([PENDING_KEY], now_ms=clock()) == {}


@pytest.mark.parametrize("trigger", ["timer scan finding nothing", "event with no escalation"])
def test_waiting_escalations_go_out_with_the_next_invocation_of_any_trigger_after_the_window(
    dingtalk: FakeDingTalk, open_state: OpenState, trigger: str
) -> None:
    # given a message went out, and 5 escalations arrived within its window
    store, clock = open_state(), Clock()
    dispatch(escalation(0, Status.FAILED), sinks_for(dingtalk, lambda: store, clock))
    for n in range(1, 6):
        clock.advance(5)
        dispatch(escalation(n, Status.CAPPED), sinks_for(dingtalk, lambda: store, clock))
    assert len(messages(dingtalk)) == 1
    # when, after the window, an invocation that escalates nothing itself runs
    clock.advance(WINDOW_S)
    report = quiet(1) if trigger.startswith("timer") else escalation(9, Status.RERUN)
    results = dispatch(report, sinks_for(dingtalk, lambda: store, clock))
    # then it sends the digest of the 5 that waited
    assert results["dingtalk"] == "sent"
    assert len(messages(dingtalk)) == 2
    assert sorted(listed_jobs(messages(dingtalk)[1]["text"])) == [f"{n}-0.sched" for n in range(1, 6)]
    assert "What to do next" in messages(dingtalk)[1]["text"]


def test_an_invocation_with_nothing_pending_costs_one_store_read_and_none_without_dingtalk(
    dingtalk: FakeDingTalk, open_state: OpenState
) -> None:
    # given a store that counts its document calls
    store, clock = CountingStore(open_state()), Clock()
    # when an invocation with nothing escalated runs and nothing is pending
    dispatch(quiet(1), sinks_for(dingtalk, lambda: store, clock))
    # then it cost exactly one read, no write, no message
    assert (store.reads, store.writes, dingtalk.received) == (1, 0, [])
    # and with entries pending inside a live window, still one read
    dispatch(escalation(1), sinks_for(dingtalk, lambda: store, clock))
    dispatch(escalation(2), sinks_for(dingtalk, lambda: store, clock))
    store.reads = store.writes = 0
    clock.advance(WINDOW_S / 2)
    assert dispatch(quiet(2), sinks_for(dingtalk, lambda: store, clock))["dingtalk"] == "queued"
    assert (store.reads, store.writes) == (1, 0)

    # and without DingTalk configured the store is never even opened
    def no_store() -> StateStore:
        raise AssertionError("the digest opened the store although DingTalk is not configured")

    from ehpc_rerun.settings import Settings
    from ehpc_rerun.sinks import build_sinks

    assert dispatch(escalation(3), build_sinks(Settings(), None, store=no_store)) == {"log": "sent"}


def test_several_instances_on_one_store_send_one_message_per_window(
    dingtalk: FakeDingTalk, open_state: OpenState
) -> None:
    # given 12 instances (each its own store object on the same store), released together
    stores = [open_state() for _ in range(12)]
    clock = Clock()
    barrier = threading.Barrier(len(stores))
    results: list[str] = []
    errors: list[BaseException] = []

    def instance(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(dispatch(escalation(n), sinks_for(dingtalk, lambda: stores[n], clock))["dingtalk"])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(len(stores))]
    # when each escalates one job at the same moment
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then one of them sent the only message of the window, the others queued their jobs
    assert errors == []
    assert sorted(results) == ["queued"] * 11 + ["sent"]
    assert len(messages(dingtalk)) == 1
    # when the window has passed, every instance runs again with nothing of its own
    clock.advance(WINDOW_S)
    for n in range(len(stores)):
        dispatch(quiet(n), sinks_for(dingtalk, lambda n=n: stores[n], clock))  # type: ignore[misc]
    # then exactly one more message, and the two messages together name every job exactly once
    assert len(messages(dingtalk)) == 2
    named = [job for m in messages(dingtalk) for job in listed_jobs(m["text"])]
    assert sorted(named) == sorted(f"{n}-0.sched" for n in range(12))


def _escalate_in_a_fresh_process(
    url: str, webhook: str, numbers: list[int], barrier: Any, queue: Any
) -> None:
    from ehpc_rerun.settings import Settings
    from ehpc_rerun.sinks import build_sinks

    store = open_store(url, credentials=fake_credentials)
    try:
        settings = Settings(
            dingtalk_webhook=webhook, dingtalk_secret=DING_SECRET, dingtalk_digest_window_s=60
        )
        barrier.wait(timeout=60)
        results = [
            dispatch(escalation(n), build_sinks(settings, None, store=lambda: store))["dingtalk"]
            for n in numbers
        ]
        queue.put(results)
    finally:
        store.close()


def test_instances_in_separate_processes_send_one_message_per_window(
    dingtalk: FakeDingTalk, state_url: str, open_state: OpenState
) -> None:
    # given 4 spawned processes (4 FC instances), each opening the store itself, on the wall clock
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    batches = [list(range(i * 5, i * 5 + 5)) for i in range(4)]
    processes = [
        ctx.Process(
            target=_escalate_in_a_fresh_process, args=(state_url, dingtalk.webhook, b, barrier, queue)
        )
        for b in batches
    ]
    # when each handles 5 escalating invocations at once (20 in all, well within one window)
    for process in processes:
        process.start()
    try:
        collected = [status for _ in processes for status in queue.get(timeout=120)]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    # then the robot received one message in all
    assert sorted(collected) == ["queued"] * 19 + ["sent"]
    assert len(dingtalk.received) == 1
    # and after the window one invocation sends the other 19 in one message
    later = Clock(int(time.time() * 1000) + (WINDOW_S + 5) * 1000)
    store = open_state()
    assert dispatch(quiet(0), sinks_for(dingtalk, lambda: store, later))["dingtalk"] == "sent"
    named = [job for m in messages(dingtalk) for job in listed_jobs(m["text"])]
    assert sorted(named) == sorted(f"{n}-0.sched" for n in range(20))


def test_mns_and_eventbridge_still_get_one_message_per_invocation(
    dingtalk: FakeDingTalk,
    mns: FakeMns,
    eventbridge: FakeEventBridge,
    creds: Credentials,
    open_state: OpenState,
) -> None:
    # given MNS and EventBridge configured next to the DingTalk digest
    store, clock = open_state(), Clock()
    machines = {
        "mns_endpoint": mns.url,
        "mns_topic": mns.topic,
        "eventbridge_bus": eventbridge.bus,
        "eventbridge_endpoint": eventbridge.url,
        "region": "cn-hangzhou",
    }
    # when 8 invocations escalate within one window
    for n in range(8):
        results = dispatch(escalation(n), sinks_for(dingtalk, lambda: store, clock, creds, **machines))
        clock.advance(2)
        assert (results["mns"], results["eventbridge"]) == ("sent", "sent")
    # then the machines got every report, the people one message
    assert len(mns.ok) == 8
    assert len(eventbridge.ok) == 8
    assert len(messages(dingtalk)) == 1


def test_the_waiting_document_stays_small_and_keeps_the_most_serious(
    dingtalk: FakeDingTalk, open_state: OpenState
) -> None:
    # given a message just went out (so everything below waits)
    store, clock = open_state(), Clock()
    dispatch(escalation(0), sinks_for(dingtalk, lambda: store, clock))
    # when 60 over_budget invocations of 2 jobs each, then one failed job, arrive in the window
    for n in range(1, 61):
        dispatch(
            escalation(n, jobs=2), sinks_for(dingtalk, lambda: store, clock, dingtalk_digest_max_jobs=10)
        )
    dispatch(
        escalation(61, Status.FAILED), sinks_for(dingtalk, lambda: store, clock, dingtalk_digest_max_jobs=10)
    )
    # then the document keeps 2 x 10 entries, the failed job among them, and counts the rest
    doc = store.read_docs([PENDING_KEY], now_ms=clock())[PENDING_KEY]
    pending = parse_pending(doc.value)
    assert len(pending.entries) == 20
    assert "61-0.sched" in {e.job_id for e in pending.entries}
    assert pending.total == 121
    assert len(doc.value) < 12_000
    # and after the window the digest lists the failed job first, 10 in all, and "and 111 more"
    clock.advance(WINDOW_S)
    dispatch(quiet(1), sinks_for(dingtalk, lambda: store, clock, dingtalk_digest_max_jobs=10))
    text = messages(dingtalk)[1]["text"]
    assert listed_jobs(text)[0] == "61-0.sched"
    assert len(listed_jobs(text)) == 10
    assert more_count(text) == 111
    assert "… and 111 more (111 over_budget), not listed here." in text
