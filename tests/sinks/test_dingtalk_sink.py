"""DingTalkSink against FakeDingTalk, which checks the access token, timestamp, sign and body."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from ehpc_rerun.errors import ConfigError, PermanentSinkError, TransientSinkError
from ehpc_rerun.models import Status
from ehpc_rerun.sinks.dingtalk import DingTalkSink, sign

from .fakes import DING_SECRET, DING_TOKEN, FakeDingTalk
from .reports import build_report, every_status_report, outcome


def sink_for(
    fake: FakeDingTalk, *, timeout_s: float = 2.0, clock: Callable[[], float] = time.time
) -> DingTalkSink:
    return DingTalkSink(fake.webhook, fake.secret, timeout_s=timeout_s, clock=clock)


def test_sign_uses_the_secret_as_key_and_timestamp_newline_secret_as_message() -> None:
    # the DingTalk scheme (not Feishu's, whose key is the string to sign and message empty)
    assert sign(1700000000000, DING_SECRET) == "66/hQwbVzzRGuSFNA5Y45DZLPPVuPzZ0fcNdrT2Lgp8="


def test_publish_posts_signed_markdown_naming_clusters_jobs_and_next_steps(dingtalk: FakeDingTalk) -> None:
    # given a report with jobs that need a human
    report = every_status_report()
    # when published
    sink_for(dingtalk).publish(report)
    # then the fake accepted the signature and timestamp, and the markdown is about this report
    assert [r.verdict for r in dingtalk.received] == ["ok"]
    got = dingtalk.received[0]
    assert got.query["access_token"] == DING_TOKEN
    assert abs(int(got.query["timestamp"]) - time.time() * 1000) < 60_000
    payload = json.loads(got.body)
    assert payload["msgtype"] == "markdown"
    assert got.extra["title"].startswith("ehpc-rerun: failed")
    text = got.extra["text"]
    for expected in ("ehpc-sh-Beta02", "204.sched", "AgentError.Job.RerunFailure", "What to do next"):
        assert expected in text


def test_sign_with_plus_slash_and_equals_is_url_encoded_exactly_once(dingtalk: FakeDingTalk) -> None:
    # given a moment whose signature contains '+' (a raw '+' in a query string would decode as a space)
    now = time.time()
    moment = next(
        now + i / 1000 for i in range(1000) if "+" in sign(int((now + i / 1000) * 1000), DING_SECRET)
    )
    # when publishing at that moment
    sink_for(dingtalk, clock=lambda: moment).publish(every_status_report())
    # then the sign went out percent-encoded and the fake's check passed
    got = dingtalk.received[0]
    assert "%2B" in got.extra["raw_query"]
    assert got.verdict == "ok"


def test_wants_only_reports_with_a_configured_status(dingtalk: FakeDingTalk) -> None:
    quiet = build_report(
        [outcome("ehpc-hz-a1", "1.s", Status.RERUN), outcome("ehpc-hz-a1", "2.s", Status.DUPLICATE)]
    )
    loud = build_report(
        [outcome("ehpc-hz-a1", "1.s", Status.RERUN), outcome("ehpc-hz-a1", "3.s", Status.CAPPED)]
    )
    default = sink_for(dingtalk)
    assert not default.wants(quiet)
    assert default.wants(loud)
    only_failed = DingTalkSink(dingtalk.webhook, DING_SECRET, statuses=("failed",))
    assert not only_failed.wants(loud)
    assert only_failed.wants(every_status_report())


def test_errcode_with_http_200_is_a_failure(dingtalk: FakeDingTalk) -> None:
    # given DingTalk answers HTTP 200 {"errcode": 310000, "errmsg": "sign not match"}
    dingtalk.error_next(code="310000", message="sign not match")
    # then it is a permanent failure coded by errcode
    with pytest.raises(PermanentSinkError) as caught:
        sink_for(dingtalk).publish(every_status_report())
    assert caught.value.code == "DingTalk.310000"
    assert "sign not match" in caught.value.message


def test_wrong_secret_is_refused_by_the_fake(dingtalk: FakeDingTalk) -> None:
    with pytest.raises(PermanentSinkError) as caught:
        DingTalkSink(dingtalk.webhook, "SECwrong-not-real", timeout_s=2.0).publish(every_status_report())
    assert caught.value.code == "DingTalk.310000"
    assert dingtalk.received[0].verdict == "310000"


def test_too_fast_and_server_errors_are_transient(dingtalk: FakeDingTalk) -> None:
    dingtalk.error_next(code="130101", message="send too fast")
    dingtalk.fail_next(1, status=502)
    for expected in ("DingTalk.130101", "DingTalk.HTTP502"):
        with pytest.raises(TransientSinkError) as caught:
            sink_for(dingtalk).publish(every_status_report())
        assert caught.value.code == expected


def test_hanging_robot_is_cut_off_by_the_timeout(dingtalk: FakeDingTalk) -> None:
    dingtalk.hang_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientSinkError) as caught:
        sink_for(dingtalk, timeout_s=0.3).publish(every_status_report())
    assert caught.value.code == "DingTalk.Timeout"
    assert time.monotonic() - started < 2


def test_error_messages_never_contain_the_access_token(dingtalk: FakeDingTalk) -> None:
    dingtalk.fail_next(1, status=500)
    with pytest.raises(TransientSinkError) as caught:
        sink_for(dingtalk).publish(every_status_report())
    assert DING_TOKEN not in str(caught.value)


def test_unsigned_robot_gets_no_timestamp_or_sign() -> None:
    with FakeDingTalk(secret=None) as fake:
        DingTalkSink(fake.webhook, None, timeout_s=2.0).publish(every_status_report())
    assert fake.received[0].verdict == "ok"
    assert set(fake.received[0].query) == {"access_token"}


def test_plain_http_webhook_off_loopback_is_refused() -> None:
    with pytest.raises(ConfigError):
        DingTalkSink("http://oapi.dingtalk.com/robot/send?access_token=x", DING_SECRET)
