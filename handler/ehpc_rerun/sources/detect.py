"""bytes -> the source that owns the event -> records. No per-trigger configuration.

Sources are asked in order; the first whose ``matches`` says yes unwraps the event. A raw body that is
not JSON is an MNS topic STREAM delivery without attributes (maybe Base64-encoded). E-HPC events come
before the generic CloudEvents: a delivery holding one is E-HPC's, which hands the other elements on to
the generic source (:mod:`.ehpc_events`).
"""

from __future__ import annotations

import json
from typing import Any

from ehpc_rerun.errors import InvalidEvent
from ehpc_rerun.models import SourceKind, printable
from ehpc_rerun.settings import Settings

from .base import Source, Unwrapped
from .cloudevents import CloudEventsSource
from .direct import DirectSource
from .ehpc_events import EhpcEventsSource
from .http import HttpSource
from .mns_topic import MnsTopicSource
from .payload import Origin, decode_text, records_from_payload
from .timer import TimerSource

SOURCES: tuple[Source, ...] = (
    HttpSource(),
    EhpcEventsSource(),  # before CloudEventsSource: it claims batches that hold an E-HPC event
    CloudEventsSource(),
    MnsTopicSource(),
    TimerSource(),
    DirectSource(),
)


def parse_event(event: bytes | bytearray | str | dict[str, Any] | list[Any]) -> Any:
    """FC passes ``event`` as bytes; local tools may pass str or already-parsed JSON."""
    if isinstance(event, (dict, list)):
        return event
    if isinstance(event, (bytes, bytearray)):
        try:
            text = bytes(event).decode("utf-8-sig")  # a leading BOM is not part of the JSON
        except UnicodeDecodeError:
            raise InvalidEvent("the event is not UTF-8 text; send JSON") from None
    else:
        text = event
    if not text.strip():
        raise InvalidEvent(
            "the event is empty; send a request such as "
            '{"cluster_id": "ehpc-hz-FYUr32a1b2", "job_ids": ["1.scheduler"]}'
        )
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidEvent("the event is nested too deeply") from None
    except ValueError:
        return _RawBody(text)


class _RawBody(str):
    """A non-JSON event: the raw message body of an MNS topic STREAM delivery."""


def unwrap_event(event: Any, settings: Settings) -> Unwrapped:
    parsed = parse_event(event)
    if isinstance(parsed, _RawBody):
        try:
            decoded = decode_text(parsed)
        except ValueError:
            raise InvalidEvent(
                "the event is not JSON, and not a Base64-encoded JSON message body: "
                "see the README for the accepted event shapes"
            ) from None
        origin = Origin(SourceKind.MNS_TOPIC, None, settings.max_jobs_per_request)
        return Unwrapped(SourceKind.MNS_TOPIC, records_from_payload(decoded, origin))
    for source in SOURCES:
        if source.matches(parsed):
            return source.unwrap(parsed, settings)
    shape = type(parsed).__name__
    keys = ", ".join(sorted(printable(str(k)[:40]) for k in parsed)[:8]) if isinstance(parsed, dict) else ""
    raise InvalidEvent(
        f"unknown event shape ({shape}{': keys ' + keys if keys else ''}); expected an HTTP trigger event, "
        "CloudEvents (MNS queue, RocketMQ, Kafka, CloudMonitor, E-HPC), an MNS topic message, a timer event, "
        'or a request such as {"cluster_id": "ehpc-hz-FYUr32a1b2", "job_ids": ["1.scheduler"]}'
    )
