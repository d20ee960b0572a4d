"""Timer trigger: ``{"triggerTime", "triggerName", "payload"}`` (fc-events.md §2.6).

``payload`` is the string configured on the trigger: one or more requests as JSON, or
``{"scan": {...}}`` to run the stuck-job detector. An empty payload means a detector scan too.
"""

from __future__ import annotations

import json
from typing import Any

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from .base import Unwrapped
from .payload import Origin, error_record, records_from_payload, scan_request


class TimerSource:
    kind = SourceKind.TIMER

    def matches(self, event: Any) -> bool:
        return isinstance(event, dict) and "triggerTime" in event and "triggerName" in event

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        source_id = f"{event.get('triggerName')}@{event.get('triggerTime')}"[:256]
        origin = Origin(self.kind, source_id, settings.max_jobs_per_request, event_id=source_id)
        payload = event.get("payload")
        if payload in (None, {}) or (isinstance(payload, str) and not payload.strip()):
            return Unwrapped(self.kind, scan={})
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except (ValueError, RecursionError):
                return Unwrapped(
                    self.kind,
                    [
                        error_record(
                            origin,
                            "InvalidPayload",
                            'timer payload is not JSON; set it to a request or {"scan": {}}',
                        )
                    ],
                )
        if isinstance(payload, dict) and "scan" in payload:
            scan, rejected = scan_request(payload["scan"], origin)
            return Unwrapped(self.kind, rejected, scan=scan)
        return Unwrapped(self.kind, records_from_payload(payload, origin))
