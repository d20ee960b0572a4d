"""EventBridge CloudEvents (MNS queue, RocketMQ, Kafka, CloudMonitor, custom) and raw Apache RocketMQ."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ehpc_rerun.models import RecordError, RerunRequest, SourceKind
from ehpc_rerun.settings import Settings

from .conftest import CLUSTER, errors_of, jobs, load_event_json, requests_of, unwrap


def cloudevent(etype: str, data: Any, *, event_id: str = "ev-1", source: str = "acs:test") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": etype,
        "datacontenttype": "application/json; charset=utf-8",
        "time": "2026-11-25T06:28:17.093Z",
        "data": data,
    }


def mns(body: str, event_id: str = "mns-1") -> dict[str, Any]:
    return cloudevent("mns:Queue:SendMessage", {"messageId": "m", "messageBody": body}, event_id=event_id)


def req(*job_ids: str) -> str:
    return json.dumps({"cluster_id": CLUSTER, "job_ids": list(job_ids)})


# --- each events/ sample --------------------------------------------------------------------------


def test_mns_queue_sample_json_and_base64_bodies() -> None:
    # given the MNS queue batch: one messageBody as JSON text, one as Base64
    result = unwrap(load_event_json("eventbridge-mns-queue.json"))
    # then both become requests, each tagged with its CloudEvent id
    assert result.kind is SourceKind.MNS_QUEUE
    assert jobs(result) == [("ehpc-hz-demo01", ("5.scheduler",)), ("ehpc-hz-demo01", ("6.scheduler",))]
    assert [r.source_id for r in requests_of(result)] == [
        "c2g71017-6f65-fhcf-a814-a396fc8d0001",
        "c2g71017-6f65-fhcf-a814-a396fc8d0002",
    ]
    assert [r.reason for r in requests_of(result)] == ["stuck in QUEUED for 26 h", "node lost"]
    assert all(r.source is SourceKind.MNS_QUEUE for r in requests_of(result))


def test_rocketmq_sample_body() -> None:
    result = unwrap(load_event_json("eventbridge-rocketmq.json"))
    assert result.kind is SourceKind.ROCKETMQ
    assert jobs(result) == [("ehpc-hz-demo01", ("7.scheduler",))]
    assert requests_of(result)[0].reason == "watchdog: no progress for 2 h"


def test_kafka_sample_value_as_object_and_as_string() -> None:
    result = unwrap(load_event_json("eventbridge-kafka.json"))
    assert result.kind is SourceKind.KAFKA
    assert jobs(result) == [("ehpc-hz-demo01", ("8.scheduler",)), ("ehpc-hz-demo01", ("9.scheduler",))]
    assert [r.source_id for r in requests_of(result)] == [
        "8e215af8-ca18-4249-8645-f96c10260001",
        "8e215af8-ca18-4249-8645-f96c10260002",
    ]


def test_cloudmonitor_alert_webhook_sample() -> None:
    # given the single (not array) cms:CloudMonitor:AlertWebHook event
    result = unwrap(load_event_json("eventbridge-cloudmonitor-alert.json"))
    # then one CloudMonitor request keyed by the alert's transId
    assert result.kind is SourceKind.CLOUDMONITOR
    [request] = result.records
    assert isinstance(request, RerunRequest)
    assert (request.cluster_id, request.job_ids) == ("ehpc-hz-demo01", ("10.scheduler",))
    assert request.source_id == "53767d2a-ae72-11ed-b2ca-00163e2c0003"
    assert request.region == "cn-hangzhou"


def test_cloudmonitor_alert_webhook_ok_is_acknowledged() -> None:
    event = load_event_json("eventbridge-cloudmonitor-alert.json")
    event["data"]["alertState"] = "OK"
    [ack] = unwrap(event).records
    assert ack.message == "alert 'E-HPC job heartbeat stalled' is OK: no action"
    assert ack.job_ids == ("10.scheduler",)


def test_cloudmonitor_event_with_non_object_data_is_an_error() -> None:
    result = unwrap([cloudevent("cms:CloudMonitor:AlertWebHook", "ALERT")])
    [err] = result.records
    assert isinstance(err, RecordError)
    assert (err.code, err.message, err.index) == ("InvalidEvent", "alert event has no data object", 0)


def test_custom_event_data_is_a_request() -> None:
    # given a custom EventBridge event whose data is our request object
    result = unwrap([cloudevent("ehpc:Custom:Rerun", {"cluster_id": CLUSTER, "job_ids": ["3.s"]})])
    # then an EventBridge request
    assert result.kind is SourceKind.EVENTBRIDGE
    assert jobs(result) == [(CLUSTER, ("3.s",))]
    assert requests_of(result)[0].source is SourceKind.EVENTBRIDGE


# --- batches --------------------------------------------------------------------------------------


def test_mixed_batch_with_broken_elements_still_yields_the_valid_ones() -> None:
    # given a batch: valid MNS, MNS with a non-JSON body, valid RocketMQ, a non-CloudEvent,
    # a Kafka event with no value, and a valid Kafka event
    rocket = load_event_json("eventbridge-rocketmq.json")[0]
    kafka = load_event_json("eventbridge-kafka.json")[1]
    kafka_broken = copy.deepcopy(kafka)
    del kafka_broken["data"]["value"]
    batch = [mns(req("1.s"), "a"), mns("TEST", "b"), rocket, {"hello": "world"}, kafka_broken, kafka]
    # when unwrapped
    result = unwrap(batch)
    # then the three valid elements are requests, the three broken ones errors carrying their index
    assert result.kind is SourceKind.EVENTBRIDGE  # several kinds in one batch
    assert jobs(result) == [
        (CLUSTER, ("1.s",)),
        ("ehpc-hz-demo01", ("7.scheduler",)),
        ("ehpc-hz-demo01", ("9.scheduler",)),
    ]
    errors = {e.index: (e.code, e.message) for e in errors_of(result)}
    assert errors[1][0] == "InvalidPayload"
    assert errors[1][1].startswith("message body is not JSON")
    assert errors[3] == ("InvalidEvent", "batch element is not a CloudEvent")
    assert errors[4] == ("InvalidEvent", "data.value is missing")
    assert len(result.records) == 6


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"foo": 1}, "batch element is not a CloudEvent"),
        (42, "batch element is not a CloudEvent"),
        (None, "batch element is not a CloudEvent"),
        ([1, 2], "batch element is not a CloudEvent"),
        ("text", "batch element is a string but not a CloudEvent in JSON"),
        ('{"specversion": "1.0", "data": ', "batch element is a string but not a CloudEvent in JSON"),
        ('{"specversion": "1.0"}', "batch element is a string but not a CloudEvent in JSON"),
    ],
)
def test_non_cloudevent_element_is_a_record_error(element: Any, message: str) -> None:
    # given a batch whose second element is not a CloudEvent (nor one serialised as a JSON string)
    result = unwrap([mns(req("1.s")), element])
    # then the first is a request and the second an error at index 1
    assert jobs(result) == [(CLUSTER, ("1.s",))]
    [err] = errors_of(result)
    assert (err.index, err.code, err.message) == (1, "InvalidEvent", message)


# --- CloudEvents as JSON strings (Kafka through EventBridge, as the FC Go runtime SDK documents it) ------


def test_kafka_strings_sample_yields_the_valid_elements_and_rejects_the_bad_one() -> None:
    # given the sample: a JSON array of strings, each a Kafka CloudEvent in JSON
    # (aliyun/fc-runtime-go-sdk events/README_KAFKA_EVENTBRIDGE.md); the third carries the SDK doc's own
    # value, a Python bytes repr b'{...}' that is no request
    raw = load_event_json("eventbridge-kafka-strings.json")
    assert all(isinstance(item, str) for item in raw)
    # when unwrapped
    result = unwrap(raw)
    # then each valid string became a Kafka request tagged with its CloudEvent id
    assert result.kind is SourceKind.KAFKA
    assert jobs(result) == [("ehpc-hz-demo01", ("19.scheduler",)), ("ehpc-hz-demo01", ("20.scheduler",))]
    assert [r.source_id for r in requests_of(result)] == [
        "1cb591f9-987e-41d9-b974-0342e9ac0019",
        "1cb591f9-987e-41d9-b974-0342e9ac0020",
    ]
    # and the bad one is an error at its index, not the end of the batch
    [err] = errors_of(result)
    assert (err.index, err.code, err.source) == (2, "InvalidPayload", SourceKind.KAFKA)
    assert err.message.startswith("message body is not JSON")


def test_strings_and_objects_in_one_batch_take_the_same_path() -> None:
    # given the same Kafka CloudEvent once as an object and once as a JSON string
    event = load_event_json("eventbridge-kafka.json")[1]
    # when both are unwrapped in one batch
    result = unwrap([event, json.dumps(event)])
    # then both become the same request
    assert jobs(result) == [("ehpc-hz-demo01", ("9.scheduler",))] * 2
    assert errors_of(result) == []


def test_a_list_of_plain_strings_is_still_an_unknown_shape() -> None:
    # given a list of strings none of which looks like a CloudEvent
    from ehpc_rerun.errors import InvalidEvent

    # when unwrapped, then the whole event is refused, naming the shapes accepted
    with pytest.raises(InvalidEvent, match="unknown event shape"):
        unwrap(["hello", "world"])


def test_more_than_ten_thousand_events_is_one_error() -> None:
    result = unwrap([mns(req("1.s"))] * 10_001)
    [err] = result.records
    assert isinstance(err, RecordError)
    assert err.code == "TooManyEvents"


# --- classification never depends on the exact source ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("eventbridge-mns-queue.json", SourceKind.MNS_QUEUE),
        ("eventbridge-rocketmq.json", SourceKind.ROCKETMQ),
        ("eventbridge-kafka.json", SourceKind.KAFKA),
        ("eventbridge-cloudmonitor-alert.json", SourceKind.CLOUDMONITOR),
    ],
)
@pytest.mark.parametrize("new_source", ["MNS-my-function-my-trigger", "", None, "acs:something-else"])
def test_classification_ignores_the_source_value(name: str, kind: SourceKind, new_source: str | None) -> None:
    # given a sample whose `source` is rewritten (fc3 names it <Type>-<function>-<trigger>) or removed
    original = load_event_json(name)
    changed = copy.deepcopy(original)
    for item in changed if isinstance(changed, list) else [changed]:
        if new_source is None:
            del item["source"]
        else:
            item["source"] = new_source
    # then the kind and the requests are unchanged
    result = unwrap(changed)
    assert result.kind is kind
    assert jobs(result) == jobs(unwrap(original))
    assert jobs(result)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"messageBody": req("1.s")}, SourceKind.MNS_QUEUE),
        ({"systemProperties": {}, "body": req("1.s")}, SourceKind.ROCKETMQ),
        ({"partition": 0, "value": req("1.s")}, SourceKind.KAFKA),
    ],
)
def test_classification_by_data_shape_when_type_is_unfamiliar(data: dict[str, Any], kind: SourceKind) -> None:
    # given an event whose type names no known product but whose data has the product's shape
    result = unwrap([cloudevent("vendor:Unknown:Thing", data)])
    # then the data shape decides
    assert result.kind is kind
    assert jobs(result) == [(CLUSTER, ("1.s",))]


def test_classification_of_alert_fields_without_cms_type() -> None:
    data = load_event_json("eventbridge-cloudmonitor-alert.json")["data"]
    result = unwrap([cloudevent("custom:Forwarded:Alert", data)])
    assert result.kind is SourceKind.CLOUDMONITOR
    assert jobs(result) == [("ehpc-hz-demo01", ("10.scheduler",))]


# --- single object vs array; raw Apache RocketMQ --------------------------------------------------


@pytest.mark.parametrize(
    "name", ["eventbridge-mns-queue.json", "eventbridge-rocketmq.json", "eventbridge-kafka.json"]
)
def test_single_object_and_one_element_array_are_equivalent(name: str) -> None:
    first = load_event_json(name)[0]
    single = unwrap(first)
    array = unwrap([first])
    assert single.kind is array.kind
    assert single.records == array.records
    assert len(requests_of(single)) == 1


def test_raw_apache_rocketmq_array() -> None:
    # given the self-managed Apache RocketMQ trigger's raw array (not CloudEvents)
    batch = [
        {
            "msgId": "7F000001-RAW-0001",
            "topic": "ehpc-stuck-jobs",
            "systemProperties": {"UNIQ_KEY": "u1", "CLUSTER": "DefaultCluster", "TAGS": "stuck"},
            "userProperties": {},
            "body": req("11.s"),
        },
        {"msgId": "7F000001-RAW-0002", "topic": "ehpc-stuck-jobs", "body": "not json at all"},
    ]
    # when unwrapped
    result = unwrap(batch)
    # then a RocketMQ request keyed by msgId, and an error for the bad body
    assert result.kind is SourceKind.ROCKETMQ
    assert jobs(result) == [(CLUSTER, ("11.s",))]
    assert requests_of(result)[0].source_id == "7F000001-RAW-0001"
    [err] = errors_of(result)
    assert (err.index, err.source_id) == (1, "7F000001-RAW-0002")


def test_too_many_jobs_in_one_message_respects_the_setting() -> None:
    result = unwrap([mns(req("1.s", "2.s", "3.s"))], Settings(max_jobs_per_request=2))
    [err] = result.records
    assert isinstance(err, RecordError)
    assert err.code == "TooManyJobs"


def test_alert_with_an_over_long_trans_id_is_still_a_request() -> None:
    # given an alert whose transId is longer than source_id allows
    # (regression: the valid alert was rejected with a "source_id" error the sender cannot act on)
    event = load_event_json("eventbridge-cloudmonitor-alert.json")
    event["data"]["transId"] = "t" * 300
    # then it is still a request, with the id truncated
    [request] = requests_of(unwrap(event))
    assert request.source_id == "t" * 256
    assert request.job_ids == ("10.scheduler",)
