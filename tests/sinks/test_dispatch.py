"""dispatch(): isolation between sinks, bounded retries and time, and the sink_failed fallback."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import SinkError
from ehpc_rerun.models import Status
from ehpc_rerun.report import InvocationReport
from ehpc_rerun.sinks.dingtalk import DingTalkSink
from ehpc_rerun.sinks.dispatch import dispatch
from ehpc_rerun.sinks.log import register_secrets
from ehpc_rerun.sinks.mns import MnsTopicSink

from .fakes import FakeDingTalk, FakeMns
from .reports import build_report, every_status_report, outcome


def mns_sink(fake: FakeMns, creds: Credentials, timeout_s: float = 2.0) -> MnsTopicSink:
    return MnsTopicSink(fake.url, fake.topic, creds, timeout_s)


def ding_sink(fake: FakeDingTalk, timeout_s: float = 2.0) -> DingTalkSink:
    return DingTalkSink(fake.webhook, fake.secret, timeout_s=timeout_s)


def lines_of(stdout: str, kind: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("type") == kind]


class Exploding:
    name = "exploding"

    def __init__(self, error: Exception, wants_error: Exception | None = None) -> None:
        self.error, self.wants_error, self.calls = error, wants_error, 0

    def wants(self, report: InvocationReport) -> bool:
        if self.wants_error:
            raise self.wants_error
        return True

    def publish(self, report: InvocationReport) -> None:
        self.calls += 1
        raise self.error


def test_a_failing_sink_does_not_stop_the_next(
    mns: FakeMns, dingtalk: FakeDingTalk, creds: Credentials
) -> None:
    # given MNS keeps answering 500 and DingTalk is fine
    mns.fail_next(10)
    # when dispatching to both
    results = dispatch(
        every_status_report(), [mns_sink(mns, creds), ding_sink(dingtalk)], retries=1, backoff_s=0.01
    )
    # then MNS failed after 2 attempts and DingTalk still got the message
    assert results == {"mns": "failed", "dingtalk": "sent"}
    assert len(mns.received) == 2
    assert [r.verdict for r in dingtalk.received] == ["ok"]


def test_transient_failures_are_retried_with_backoff_until_one_succeeds(
    mns: FakeMns, creds: Credentials
) -> None:
    # given MNS fails twice then recovers
    mns.fail_next(2)
    slept: list[float] = []
    # when dispatching with 2 retries
    results = dispatch(
        every_status_report(), [mns_sink(mns, creds)], retries=2, backoff_s=0.2, sleep=slept.append
    )
    # then the third attempt delivered it, after exponential backoff
    assert results == {"mns": "sent"}
    assert [r.verdict for r in mns.received] == ["HTTP500", "HTTP500", "ok"]
    assert slept == [0.2, 0.4]


def test_after_the_last_retry_a_sink_failed_line_carries_the_whole_report(
    mns: FakeMns, creds: Credentials, capsys: pytest.CaptureFixture[str]
) -> None:
    # given MNS never recovers
    mns.fail_next(10)
    report = every_status_report()
    # when dispatching with 2 retries
    results = dispatch(report, [mns_sink(mns, creds)], retries=2, backoff_s=0.01)
    # then exactly 3 attempts reached MNS, and one sink_failed line holds the whole report
    assert results == {"mns": "failed"}
    assert len(mns.received) == 3
    (line,) = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert line["sink"] == "mns"
    assert line["attempts"] == 3
    assert line["error_code"] == "MNS.InternalError"
    assert line["invocation_id"] == "inv-7f3a"
    assert line["report"] == report.model_dump(mode="json")


def test_a_permanent_error_is_not_retried(
    mns: FakeMns, creds: Credentials, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the topic does not exist
    mns.error_next(5, code="TopicNotExist", status=404)
    # when dispatching with 3 retries
    dispatch(every_status_report(), [mns_sink(mns, creds)], retries=3, backoff_s=0.01)
    # then one attempt only, and the fallback line says so
    assert len(mns.received) == 1
    (line,) = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert (line["attempts"], line["error_code"]) == (1, "MNS.TopicNotExist")


def test_a_hanging_sink_is_cut_off_and_the_next_sink_still_runs(
    mns: FakeMns, dingtalk: FakeDingTalk, creds: Credentials
) -> None:
    # given MNS hangs for 5 s on every request
    mns.hang_next(3, seconds=5)
    started = time.monotonic()
    # when dispatching with a 0.3 s sink timeout and 2 retries
    results = dispatch(
        every_status_report(),
        [mns_sink(mns, creds, timeout_s=0.3), ding_sink(dingtalk)],
        retries=2,
        backoff_s=0.01,
    )
    # then MNS is given up after 3 short attempts, and DingTalk delivered
    elapsed = time.monotonic() - started
    assert results == {"mns": "failed", "dingtalk": "sent"}
    assert len(mns.received) == 3
    assert elapsed < 2.5


def test_total_time_is_bounded_by_the_deadline(mns: FakeMns, creds: Credentials) -> None:
    # given MNS always fails and generous retries
    mns.fail_next(100)
    started = time.monotonic()
    # when dispatching with a 0.5 s deadline
    results = dispatch(
        every_status_report(), [mns_sink(mns, creds)], retries=10, backoff_s=0.1, deadline_s=0.5
    )
    # then retries stop at the deadline, long before 10 retries of backoff (~100 s)
    assert results == {"mns": "failed"}
    assert time.monotonic() - started < 1.0
    assert 1 < len(mns.received) < 11


def test_every_sink_gets_a_first_attempt_even_after_the_deadline(
    mns: FakeMns, dingtalk: FakeDingTalk, creds: Credentials
) -> None:
    mns.hang_next(1, seconds=5)
    results = dispatch(
        every_status_report(),
        [mns_sink(mns, creds, timeout_s=0.3), ding_sink(dingtalk)],
        retries=3,
        deadline_s=0.1,
    )
    assert results == {"mns": "failed", "dingtalk": "sent"}
    assert len(mns.received) == 1


def test_a_sink_that_does_not_want_the_report_is_skipped(dingtalk: FakeDingTalk) -> None:
    quiet = build_report([outcome("ehpc-hz-a1", "1.s", Status.RERUN)])
    assert dispatch(quiet, [ding_sink(dingtalk)]) == {"dingtalk": "skipped"}
    assert dingtalk.received == []


def test_a_broken_filter_or_an_unexpected_exception_stays_with_its_sink(
    dingtalk: FakeDingTalk, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a sink whose wants() and publish() both raise unexpected exceptions
    broken = Exploding(RuntimeError("boom"), wants_error=KeyError("x"))
    # when dispatching it before a working sink
    results = dispatch(every_status_report(), [broken, ding_sink(dingtalk)], retries=1, backoff_s=0.01)
    # then it was still tried (wants errors mean "publish"), failed alone, and the next sink delivered
    assert results == {"exploding": "failed", "dingtalk": "sent"}
    assert broken.calls == 2
    (line,) = lines_of(capsys.readouterr().out, "ehpc_rerun.sink_failed")
    assert line["error_code"] == "RuntimeError"


def test_the_sink_failed_line_never_prints_a_registered_secret(capsys: pytest.CaptureFixture[str]) -> None:
    register_secrets(["leaky-token-not-real"])
    sink = Exploding(SinkError("rejected token leaky-token-not-real", code="X.Denied"))
    dispatch(every_status_report(), [sink], retries=0)
    out = capsys.readouterr().out
    assert "leaky-token-not-real" not in out
    assert lines_of(out, "ehpc_rerun.sink_failed")[0]["message"] == "rejected token ***"
