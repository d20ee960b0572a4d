"""EventBridge CloudEvents: MNS queue, RocketMQ, Kafka, CloudMonitor alerts and custom events.

FC 3.0 queue triggers deliver a JSON **array** of CloudEvents (one object for some default-bus rules):
fc-events.md §2.3. Which product an event came from is inferred from ``type`` and the shape of ``data``;
``source`` is never matched exactly (it is ``<Type>-<function>-<trigger>`` and differs per trigger).

| type prefix       | kind        | where the request is                 |
|-------------------|-------------|--------------------------------------|
| ``mns:Queue:``    | mns_queue   | ``data.messageBody`` (string, maybe Base64) |
| ``mq:``           | rocketmq    | ``data.body`` (string)               |
| ``alikafka:``     | kafka       | ``data.value`` (object or string)    |
| ``cms:...AlertWebHook`` | cloudmonitor | ``data`` holds the alert fields |
| anything else     | eventbridge | ``data`` is a request object (custom events) |

The self-managed Apache RocketMQ trigger sends a raw array of messages (``msgId``, ``topic``, ``body``);
it is accepted here too. A batch element may also be a CloudEvent serialised as a JSON *string*: the
Kafka (EventBridge) trigger as the FC Go runtime SDK documents it, "event is an array of strings with
escape characters" (aliyun/fc-runtime-go-sdk ``events/README_KAFKA_EVENTBRIDGE.md``; its handler takes
``event []string`` and unmarshals each string into ``KafkaEventBridgeEvent``). Each string is parsed and
then takes the path of the same CloudEvent as an object; one that is not a CloudEvent in JSON is a
:class:`~ehpc_rerun.models.RecordError` at its index, and the rest of the batch goes ahead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from . import cloudmonitor
from .base import Record, Unwrapped
from .payload import Origin, error_record, records_from_payload

MAX_EVENTS = 10_000


def _is_cloudevent(item: Any) -> bool:
    return isinstance(item, dict) and "specversion" in item and "data" in item


def _is_raw_rocketmq(item: Any) -> bool:
    return isinstance(item, dict) and "msgId" in item and "body" in item and "topic" in item


def _looks_like_cloudevent_text(item: Any) -> bool:
    """Cheap shape guess for ``matches`` (no parse): a JSON object text naming ``specversion``."""
    return isinstance(item, str) and item.lstrip().startswith("{") and '"specversion"' in item


def _cloudevent_from_text(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if _is_cloudevent(parsed) else None


class CloudEventsSource:
    kind = SourceKind.EVENTBRIDGE

    def matches(self, event: Any) -> bool:
        if isinstance(event, list):
            return bool(event) and any(
                _is_cloudevent(i) or _is_raw_rocketmq(i) or _looks_like_cloudevent_text(i) for i in event[:50]
            )
        return _is_cloudevent(event)

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        items = event if isinstance(event, list) else [event]
        records: list[Record] = []
        kinds: set[SourceKind] = set()
        if len(items) > MAX_EVENTS:
            origin = Origin(SourceKind.EVENTBRIDGE, None, settings.max_jobs_per_request)
            return Unwrapped(
                SourceKind.EVENTBRIDGE,
                [
                    error_record(
                        origin, "TooManyEvents", f"{len(items)} events; at most {MAX_EVENTS} per batch"
                    )
                ],
            )
        for index, item in enumerate(items):
            kind, found = _unwrap_one(item, index, settings.max_jobs_per_request)
            kinds.add(kind)
            records.extend(found)
        overall = kinds.pop() if len(kinds) == 1 else SourceKind.EVENTBRIDGE
        return Unwrapped(overall, records)


def classify(event: dict[str, Any]) -> SourceKind:
    etype = str(event.get("type") or "").lower()
    data = event.get("data")
    if etype.startswith("mns:") or (isinstance(data, dict) and "messageBody" in data):
        return SourceKind.MNS_QUEUE
    if etype.startswith(("mq:", "rocketmq:")) or (isinstance(data, dict) and "systemProperties" in data):
        return SourceKind.ROCKETMQ
    if etype.startswith(("alikafka:", "kafka:")) or (isinstance(data, dict) and "partition" in data):
        return SourceKind.KAFKA
    if etype.startswith("cms:") or (isinstance(data, dict) and cloudmonitor.is_alert(data)):
        return SourceKind.CLOUDMONITOR
    return SourceKind.EVENTBRIDGE


def _unwrap_one(item: Any, index: int, max_jobs: int) -> tuple[SourceKind, Sequence[Record]]:
    if isinstance(item, str):
        parsed = _cloudevent_from_text(item)
        if parsed is None:
            origin = Origin(SourceKind.EVENTBRIDGE, None, max_jobs)
            problem = "batch element is a string but not a CloudEvent in JSON"
            return SourceKind.EVENTBRIDGE, [error_record(origin, "InvalidEvent", problem, index=index)]
        item = parsed
    if _is_raw_rocketmq(item):
        msg_id = _str(item.get("msgId"))
        origin = Origin(SourceKind.ROCKETMQ, msg_id, max_jobs, event_id=msg_id)
        return SourceKind.ROCKETMQ, records_from_payload(item.get("body"), origin, index=index)
    if not _is_cloudevent(item):
        origin = Origin(SourceKind.EVENTBRIDGE, None, max_jobs)
        return SourceKind.EVENTBRIDGE, [
            error_record(origin, "InvalidEvent", "batch element is not a CloudEvent", index=index)
        ]
    kind = classify(item)
    data = item.get("data")
    event_id = _str(item.get("id"))
    origin = Origin(kind, event_id, max_jobs, event_id=event_id)
    if kind is SourceKind.CLOUDMONITOR:
        if not isinstance(data, dict):
            return kind, [error_record(origin, "InvalidEvent", "alert event has no data object", index=index)]
        return kind, [cloudmonitor.from_fields(data, event_id, max_jobs, event_id=event_id)]
    field = {SourceKind.MNS_QUEUE: "messageBody", SourceKind.ROCKETMQ: "body", SourceKind.KAFKA: "value"}.get(
        kind
    )
    if field is None:
        return kind, records_from_payload(data, origin, index=index)
    if not isinstance(data, dict) or field not in data:
        return kind, [error_record(origin, "InvalidEvent", f"data.{field} is missing", index=index)]
    return kind, records_from_payload(data[field], origin, index=index)


def _str(value: Any) -> str | None:
    return str(value)[:256] if value not in (None, "") else None
