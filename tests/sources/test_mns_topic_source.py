"""Native MNS topic trigger: JSON notify format, STREAM with attributes, STREAM raw body."""

from __future__ import annotations

import base64
import json

import pytest

from ehpc_rerun.errors import InvalidEvent
from ehpc_rerun.models import RecordError, RerunRequest, SourceKind

from .conftest import CLUSTER, alert_form, jobs, load_event, load_event_json, requests_of, unwrap


def test_json_format_sample_message_is_the_request() -> None:
    # given the JSON-format notification, Message holding the request as a string
    result = unwrap(load_event("mns-topic-json.json"))
    # then one request for both jobs, with region and MessageId carried over
    assert result.kind is SourceKind.MNS_TOPIC
    [request] = result.records
    assert isinstance(request, RerunRequest)
    assert (request.cluster_id, request.job_ids) == ("ehpc-sh-demo02", ("1.manager", "2.manager"))
    assert request.region == "cn-shanghai"
    assert request.reason == "license server timeout"
    assert request.source_id == "2F5B3C082B923D4EAC694B76D9280001"


def test_json_format_with_base64_message_and_merged_attributes() -> None:
    # given a JSON notification whose Message is Base64 and with attributes merged into the top level
    event = load_event_json("mns-topic-json.json")
    event["Message"] = base64.b64encode(
        json.dumps({"cluster_id": CLUSTER, "job_ids": ["3.s"]}).encode()
    ).decode()
    event["priority"] = "high"
    # then the Base64 is decoded and the attribute does not disturb the request
    assert jobs(unwrap(event)) == [(CLUSTER, ("3.s",))]


def test_json_format_with_an_alert_callback_as_message() -> None:
    event = load_event_json("mns-topic-json.json")
    event["Message"] = alert_form(job="5.s")
    result = unwrap(event)
    assert jobs(result) == [(CLUSTER, ("5.s",))]
    assert requests_of(result)[0].source is SourceKind.CLOUDMONITOR


def test_json_format_with_a_non_json_message_is_an_error_record() -> None:
    event = load_event_json("mns-topic-json.json")
    event["Message"] = "hello topic"
    [err] = unwrap(event).records
    assert isinstance(err, RecordError)
    assert err.code == "InvalidPayload"
    assert err.source_id == "2F5B3C082B923D4EAC694B76D9280001"


def test_stream_format_with_attributes_sample() -> None:
    # given the STREAM notification with attributes: {"body", "attrs"}
    result = unwrap(load_event("mns-topic-stream-attrs.json"))
    # then body is the request
    assert result.kind is SourceKind.MNS_TOPIC
    assert jobs(result) == [("ehpc-hz-demo01", ("12.scheduler",))]
    assert requests_of(result)[0].reason == "topic STREAM format with attributes"


def test_stream_format_raw_base64_body_is_decoded_by_detect() -> None:
    # given the STREAM notification without attributes: the event is the raw body, here Base64 text
    raw = load_event("mns-topic-stream-raw.txt")
    assert not raw.lstrip().startswith(b"{")
    # when unwrapped
    result = unwrap(raw)
    # then detect decodes it as an MNS topic message
    assert result.kind is SourceKind.MNS_TOPIC
    assert jobs(result) == [("ehpc-hz-demo01", ("13.scheduler",))]
    assert requests_of(result)[0].reason == "topic STREAM format, raw Base64 body"


def test_stream_format_raw_base64_body_with_trailing_newline() -> None:
    raw = load_event("mns-topic-stream-raw.txt").strip() + b"\n"
    assert jobs(unwrap(raw)) == [("ehpc-hz-demo01", ("13.scheduler",))]


def test_stream_format_raw_json_body_is_handled_as_a_direct_request() -> None:
    # given a raw body that is already our request JSON (STREAM, no attributes)
    result = unwrap(json.dumps({"cluster_id": CLUSTER, "job_ids": ["4.s"]}).encode())
    # then the direct source, the catch-all for request-shaped JSON, takes it
    assert result.kind is SourceKind.DIRECT
    assert jobs(result) == [(CLUSTER, ("4.s",))]


@pytest.mark.parametrize("raw", [b"hello topic", b"SGVsbG8gdG9waWM=", b"%%%%"])
def test_stream_format_raw_body_that_is_neither_json_nor_base64_json_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as caught:
        unwrap(raw)
    assert "not a Base64-encoded JSON message body" in caught.value.message
