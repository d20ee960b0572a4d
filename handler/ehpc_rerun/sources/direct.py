"""Direct invoke (``s invoke``, the console, another function): a request object or a list of them.

Also the catch-all for request-shaped JSON: an MNS topic STREAM delivery without attributes is the raw
message body, which is exactly such a request.
"""

from __future__ import annotations

from typing import Any

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from .base import Unwrapped
from .payload import OWN_KEYS, Origin, records_from_payload

_API_KEYS = frozenset({"ClusterId", "Jobs"})


def _request_shaped(item: Any) -> bool:
    return isinstance(item, dict) and bool(set(item) & (OWN_KEYS | _API_KEYS | {"requests"}))


class DirectSource:
    kind = SourceKind.DIRECT

    def matches(self, event: Any) -> bool:
        if isinstance(event, dict):
            return _request_shaped(event) or "scan" in event
        return isinstance(event, list) and bool(event) and all(isinstance(i, dict) for i in event[:50])

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        if isinstance(event, dict) and "scan" in event and len(event) == 1:
            scan = event["scan"]
            return Unwrapped(self.kind, scan=scan if isinstance(scan, dict) else {})
        origin = Origin(self.kind, None, settings.max_jobs_per_request)
        return Unwrapped(self.kind, records_from_payload(event, origin))
