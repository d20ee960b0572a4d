"""Direct invoke (``s invoke``, the console, another function): a request object or a list of them.

Also the catch-all for request-shaped JSON: an MNS topic STREAM delivery without attributes is the raw
message body, which is exactly such a request.
"""

from __future__ import annotations

from typing import Any

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from .base import Unwrapped
from .payload import OWN_KEYS, Origin, records_from_payload, scan_request

_API_KEYS = frozenset({"ClusterId", "Jobs"})


def _request_shaped(item: Any) -> bool:
    return isinstance(item, dict) and bool(set(item) & (OWN_KEYS | _API_KEYS | {"requests"}))


class DirectSource:
    kind = SourceKind.DIRECT

    def matches(self, event: Any) -> bool:
        if isinstance(event, dict):
            return _request_shaped(event) or "scan" in event
        if not isinstance(event, list) or not event:
            return False
        head = event[:50]
        # a batch of objects, or one in which some element is a request: the others become RecordErrors
        return all(isinstance(i, dict) for i in head) or any(_request_shaped(i) for i in head)

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        if isinstance(event, dict) and "scan" in event and len(event) == 1:
            scan, rejected = scan_request(
                event["scan"], Origin(self.kind, None, settings.max_jobs_per_request)
            )
            return Unwrapped(self.kind, rejected, scan=scan)
        origin = Origin(self.kind, None, settings.max_jobs_per_request)
        return Unwrapped(self.kind, records_from_payload(event, origin))
