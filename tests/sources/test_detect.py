"""detect.unwrap_event: bytes -> the owning source, or InvalidEvent with an actionable message."""

from __future__ import annotations

from typing import Any

import pytest

from ehpc_rerun.errors import InvalidEvent, RerunError
from ehpc_rerun.models import RecordError, RerunRequest, SourceKind
from ehpc_rerun.settings import Settings
from ehpc_rerun.sources.detect import unwrap_event

from .conftest import EVENT_FILES, load_event

EXPECTED_KIND = {
    "direct-batch-mixed.json": SourceKind.DIRECT,
    "direct-request.json": SourceKind.DIRECT,
    "eventbridge-cloudmonitor-alert.json": SourceKind.CLOUDMONITOR,
    "eventbridge-ehpc-node-status.json": SourceKind.EHPC_NODE,
    "eventbridge-kafka.json": SourceKind.KAFKA,
    "eventbridge-kafka-strings.json": SourceKind.KAFKA,
    "eventbridge-mns-queue.json": SourceKind.MNS_QUEUE,
    "eventbridge-rocketmq.json": SourceKind.ROCKETMQ,
    "http-api-form.json": SourceKind.HTTP,
    "http-cloudmonitor-callback.json": SourceKind.CLOUDMONITOR,
    "http-cloudmonitor-ok.json": SourceKind.CLOUDMONITOR,
    "http-json-request.json": SourceKind.HTTP,
    "http-no-content-type.json": SourceKind.HTTP,
    "http-octet-stream.json": SourceKind.HTTP,
    "mns-topic-json.json": SourceKind.MNS_TOPIC,
    "mns-topic-stream-attrs.json": SourceKind.MNS_TOPIC,
    "mns-topic-stream-raw.txt": SourceKind.MNS_TOPIC,
    "timer-requests.json": SourceKind.TIMER,
}
# the samples with a deliberately invalid record
EXPECTED_ERRORS = {"direct-batch-mixed.json": 1, "eventbridge-kafka-strings.json": 1}


def invalid(event: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        unwrap_event(event, Settings())
    return caught.value


def test_every_sample_file_has_an_expected_kind() -> None:
    assert sorted(EXPECTED_KIND) == EVENT_FILES


@pytest.mark.parametrize("name", EVENT_FILES)
def test_every_sample_file_is_recognised_as_its_source(name: str) -> None:
    # given an events/ file exactly as FC passes it (bytes)
    # when unwrapped
    result = unwrap_event(load_event(name), Settings())
    # then it is the right kind, and only the deliberate invalid record is an error
    assert result.kind is EXPECTED_KIND[name]
    assert result.reply is None
    assert result.records or result.node_checks  # a node event yields a cluster to check, no record
    assert sum(isinstance(r, RecordError) for r in result.records) == EXPECTED_ERRORS.get(name, 0)
    for record in result.records:
        if isinstance(record, RerunRequest):
            assert RerunRequest.model_validate(record.model_dump()) == record


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00", b'{"cluster_id": "\xc3\x28"}', b"\xed\xa0\x80"])
def test_non_utf8_bytes_are_invalid(raw: bytes) -> None:
    err = invalid(raw)
    assert err.message == "the event is not UTF-8 text; send JSON"
    assert err.code == "InvalidEvent"
    assert isinstance(err, RerunError)


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\t", ""])
def test_empty_event_is_invalid_with_an_example_request(raw: bytes | str) -> None:
    err = invalid(raw)
    assert err.message.startswith("the event is empty; send a request such as")
    assert '"cluster_id": "ehpc-hz-FYUr32a1b2"' in err.message


@pytest.mark.parametrize(
    ("raw", "shape"),
    [
        (b'{"foo": 1, "bar": 2}', "(dict: keys bar, foo)"),
        (b"{}", "(dict)"),
        (b"[1, 2, 3]", "(list)"),
        (b"[]", "(list)"),
        (b"42", "(int)"),
        (b'"just a string"', "(str)"),
        (b"true", "(bool)"),
        (b"null", "(NoneType)"),
    ],
)
def test_unknown_shapes_name_the_shape_and_list_what_is_accepted(raw: bytes, shape: str) -> None:
    err = invalid(raw)
    assert err.message.startswith(f"unknown event shape {shape}; expected an HTTP trigger event")
    assert "CloudEvents" in err.message
    assert "timer event" in err.message


def test_unknown_shape_message_lists_at_most_eight_short_keys() -> None:
    # regression: a 100 KB key was echoed in full
    event = {f"{'k' * 100_000}{n}": n for n in range(20)}
    err = invalid(event)
    assert len(err.message) < 1000
    assert err.message.count("k" * 40) == 8


@pytest.mark.parametrize("raw", [b"hello world", b"<xml/>", b"!!!!", b"aGVsbG8="])
def test_text_that_is_neither_json_nor_base64_json_is_invalid(raw: bytes) -> None:
    err = invalid(raw)
    assert "not JSON, and not a Base64-encoded JSON message body" in err.message


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deep_nesting_is_invalid_not_a_recursion_error(depth: int) -> None:
    err = invalid(b"[" * depth)
    assert err.message == "the event is nested too deeply"


def test_parsed_and_text_inputs_are_accepted_like_bytes() -> None:
    raw = load_event("direct-request.json")
    by_bytes = unwrap_event(raw, Settings())
    assert unwrap_event(raw.decode(), Settings()).records == by_bytes.records
    assert unwrap_event(bytearray(raw), Settings()).records == by_bytes.records


def test_unknown_shape_message_escapes_lone_surrogates() -> None:
    err = invalid(b'{"\\ud800": 1}')
    assert err.message.startswith("unknown event shape (dict: keys \\ud800);")
    err.message.encode("utf-8")
