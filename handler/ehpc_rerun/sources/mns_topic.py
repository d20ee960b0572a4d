"""Native MNS/SMQ topic trigger (a subscription push): fc-events.md §2.4.

* JSON format: ``{"TopicOwner", "TopicName", "Message", "MessageId", "PublishTime", ...}``; ``Message`` is
  the request JSON as a string (maybe Base64).
* STREAM format with attributes: ``{"body": "...", "attrs": {...}}``. Without attributes the event *is*
  the raw body: a request JSON that the direct source handles, or Base64 text that :mod:`detect` decodes.
"""

from __future__ import annotations

from typing import Any

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from .base import Unwrapped
from .payload import Origin, records_from_payload


class MnsTopicSource:
    kind = SourceKind.MNS_TOPIC

    def matches(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        json_format = "TopicName" in event and "Message" in event
        stream_format = "body" in event and "attrs" in event and len(event) <= 3
        return json_format or stream_format

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        if "Message" in event:
            message_id = event.get("MessageId")
            ident = str(message_id)[:256] if message_id else None
            origin = Origin(self.kind, ident, settings.max_jobs_per_request, event_id=ident)
            return Unwrapped(self.kind, records_from_payload(event["Message"], origin))
        origin = Origin(self.kind, None, settings.max_jobs_per_request)
        return Unwrapped(self.kind, records_from_payload(event["body"], origin))
