"""EventBridgeSink (the real OpenAPI SDK) against FakeEventBridge, which verifies the V3 signature."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError, PermanentSinkError, TransientSinkError
from ehpc_rerun.models import Status
from ehpc_rerun.sinks.eventbridge import EventBridgeSink, parse_endpoint

from .fakes import AK, TOKEN, FakeEventBridge
from .reports import build_report, every_status_report, outcome


def sink_for(fake: FakeEventBridge, creds: Credentials, timeout_s: float = 2.0) -> EventBridgeSink:
    return EventBridgeSink(fake.bus, fake.url, "cn-hangzhou", "ehpc-rerun", creds, timeout_s=timeout_s)


def test_publish_puts_one_signed_cloudevent_carrying_the_report(
    eventbridge: FakeEventBridge, creds: Credentials
) -> None:
    # given a report whose most serious job failed on ehpc-sh-Beta02
    report = every_status_report()
    # when it is published through the SDK
    sink = sink_for(eventbridge, creds)
    sink.publish(report)
    # then the fake verified the ACS3 signature with the STS token and got one PutEvents call
    assert [r.verdict for r in eventbridge.received] == ["ok"]
    got = eventbridge.received[0]
    assert got.headers["x-acs-action"] == "PutEvents"
    assert got.headers["x-acs-security-token"] == TOKEN
    assert f"Credential={AK}," in got.headers["authorization"]
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    # and the one event is the report as a CloudEvent
    (event,) = got.extra["events"]
    assert got.extra["bus"] == "ehpc-bus"
    assert event["Id"] == "inv-7f3a"
    assert event["Source"] == "ehpc-rerun"
    assert event["Type"] == "ehpc-rerun:Invocation:failed"
    assert event["Subject"] == "acs:ehpc:cn-hangzhou::clusters/ehpc-sh-Beta02"
    assert event["DataContentType"] == "application/json"
    assert event["SpecVersion"] == "1.0"
    assert event["Time"] == "2026-11-25T11:00:00.000Z"
    assert event["Data"] == report.model_dump(mode="json")
    assert sink.last_event_ids == ["inv-7f3a"]


def test_event_without_jobs_has_type_none_and_an_invocation_subject(
    eventbridge: FakeEventBridge, creds: Credentials
) -> None:
    sink_for(eventbridge, creds).publish(build_report([]))
    (event,) = eventbridge.received[0].extra["events"]
    assert event["Type"] == "ehpc-rerun:Invocation:none"
    assert event["Subject"] == "acs:ehpc:cn-hangzhou::invocations/inv-7f3a"


def test_failed_entry_count_above_zero_is_a_failure(eventbridge: FakeEventBridge, creds: Credentials) -> None:
    # given EventBridge answers 200 but rejects the entry
    eventbridge.fail_entries_next(code="EventSizeExceeded", message="event is too large")
    # then publishing fails with the entry's error code
    with pytest.raises(PermanentSinkError) as caught:
        sink_for(eventbridge, creds).publish(every_status_report())
    assert caught.value.code == "EventBridge.EventSizeExceeded"
    assert "fake-req" in caught.value.message


def test_unknown_bus_is_a_permanent_failure_named_by_the_api_code(creds: Credentials) -> None:
    with FakeEventBridge(bus="another-bus") as fake:
        sink = EventBridgeSink("ehpc-bus", fake.url, "cn-hangzhou", "ehpc-rerun", creds, timeout_s=2.0)
        with pytest.raises(PermanentSinkError) as caught:
            sink.publish(every_status_report())
    assert caught.value.code == "EventBridge.EventBusNotExist"
    assert fake.received[0].verdict == "EventBusNotExist"


def test_wrong_secret_fails_the_fakes_signature_check(eventbridge: FakeEventBridge) -> None:
    sink = sink_for(eventbridge, Credentials(AK, "wrong-secret-not-real", TOKEN))
    with pytest.raises(PermanentSinkError) as caught:
        sink.publish(every_status_report())
    assert caught.value.code == "EventBridge.SignatureDoesNotMatch"


def test_server_error_and_throttling_are_transient(eventbridge: FakeEventBridge, creds: Credentials) -> None:
    eventbridge.fail_next(1, status=500)
    eventbridge.error_next(1, code="Throttling.User", message="slow down", status=400)
    for expected in ("EventBridge.InternalError", "EventBridge.Throttling.User"):
        with pytest.raises(TransientSinkError) as caught:
            sink_for(eventbridge, creds).publish(every_status_report())
        assert caught.value.code == expected
    # and the SDK itself did not retry: exactly the two calls we caused
    assert len(eventbridge.received) == 2


def test_hanging_bus_is_cut_off_by_the_timeout(eventbridge: FakeEventBridge, creds: Credentials) -> None:
    eventbridge.hang_next(1, seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientSinkError) as caught:
        sink_for(eventbridge, creds, timeout_s=0.3).publish(every_status_report())
    assert caught.value.code == "EventBridge.Timeout"
    assert time.monotonic() - started < 2.5


def test_oversized_report_is_trimmed_but_keeps_the_serious_jobs(
    eventbridge: FakeEventBridge, creds: Credentials
) -> None:
    outcomes = [outcome("ehpc-hz-a1", f"{i}.sched", Status.RERUN, message="y" * 60) for i in range(1500)]
    outcomes.append(outcome("ehpc-hz-a1", "lost.sched", Status.UNKNOWN))
    sink_for(eventbridge, creds).publish(build_report(outcomes))
    (event,) = eventbridge.received[0].extra["events"]
    assert event["Data"]["outcomes"][0]["job_id"] == "lost.sched"
    assert event["Data"]["outcomes_truncated"] > 0
    assert event["Type"] == "ehpc-rerun:Invocation:unknown"


@pytest.mark.parametrize(
    ("given", "protocol", "host"),
    [
        ("http://127.0.0.1:8080", "http", "127.0.0.1:8080"),
        (
            "https://eventbridge-console.cn-shanghai.aliyuncs.com/",
            "https",
            "eventbridge-console.cn-shanghai.aliyuncs.com",
        ),
        ("eventbridge.cn-hangzhou.aliyuncs.com", "https", "eventbridge.cn-hangzhou.aliyuncs.com"),
    ],
)
def test_endpoint_override_forms(given: str, protocol: str, host: str) -> None:
    assert parse_endpoint(given) == (protocol, host)


def test_without_override_the_sdk_resolves_the_regional_endpoint(creds: Credentials) -> None:
    sink = EventBridgeSink("ehpc-bus", None, "cn-hangzhou", "ehpc-rerun", creds)
    assert sink._client()._endpoint == "eventbridge-console.cn-hangzhou.aliyuncs.com"


def test_neither_region_nor_endpoint_is_a_config_error(creds: Credentials) -> None:
    with pytest.raises(ConfigError):
        EventBridgeSink("ehpc-bus", None, None, "ehpc-rerun", creds)


def test_constructing_the_sink_does_not_import_the_sdk() -> None:
    # given a fresh interpreter, when the sink module is imported and a sink built
    code = (
        "import sys; from ehpc_rerun.credentials import Credentials; "
        "from ehpc_rerun.sinks.eventbridge import EventBridgeSink; "
        "EventBridgeSink('b', None, 'cn-hangzhou', 's', Credentials('k', 'test-secret-not-real')); "
        "print(any(m.startswith('alibabacloud_eventbridge20200401') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env())
    # then the heavy SDK is still not loaded
    assert out.stdout.strip() == "False"


def _env() -> dict[str, str]:
    handler = str(Path(__file__).resolve().parents[2] / "handler")
    return {**os.environ, "PYTHONPATH": handler}


def test_event_time_falls_back_to_now_when_started_at_is_not_iso(
    eventbridge: FakeEventBridge, creds: Credentials
) -> None:
    sink_for(eventbridge, creds).publish(build_report([], started_at="yesterday-ish"))
    (event,) = eventbridge.received[0].extra["events"]
    assert event["Time"].endswith("Z")
    assert event["Time"][:4].isdigit()
