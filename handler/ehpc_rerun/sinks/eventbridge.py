"""Publish the report as one CloudEvent to an EventBridge bus with the OpenAPI ``PutEvents``.

Uses ``alibabacloud-eventbridge20200401`` (same tea-openapi stack as E-HPC; the legacy
``alibabacloud-eventbridge`` package would downgrade alibabacloud-credentials). It is an RPC call
signed with ACS3-HMAC-SHA256: ``POST /``, headers ``x-acs-action: PutEvents`` /
``x-acs-version: 2020-04-01``, form body ``EventBusName=<bus>&EventList=<JSON array>``. The SDK
costs ~0.35 s to import, so it is imported inside :meth:`EventBridgeSink.publish`.

Credentials: the STS triple goes explicitly into ``Config`` (tea-openapi has no default-chain
fallback). The SDK's own retries stay off (``retry_options`` unset): the dispatcher retries.

Endpoint: without an override the SDK resolves it from ``region`` (its endpoint map gives
``eventbridge-console.<region>.aliyuncs.com`` for the listed regions, else
``eventbridge.<region>.aliyuncs.com``). An override is ``host[:port]`` (HTTPS) or a URL;
``http://127.0.0.1:PORT`` selects plain HTTP, for tests and local fakes.

The event (decisions):

* ``id`` = the invocation id, the same on every retry, so consumers can drop duplicates;
* ``source`` = ``EHPC_RERUN_EVENTBRIDGE_SOURCE`` (default ``ehpc-rerun``);
* ``type`` = ``ehpc-rerun:Invocation:<most serious status>`` (``...:none`` without jobs), e.g.
  ``ehpc-rerun:Invocation:failed``: a rule can match one type or ``{"prefix": "ehpc-rerun:"}``
  without a data filter (EventBridge types are ``product:Resource:Event``);
* ``subject`` = ``acs:ehpc:<region>::clusters/<cluster>`` of the (first) most serious job
  (``…::invocations/<id>`` when no job names a cluster);
* ``time`` = the invocation start (now, if ``started_at`` is not ISO 8601),
  ``datacontenttype`` = ``application/json``, ``specversion`` 1.0;
* ``data`` = the report JSON object (trimmed to 60 KB; an event may be 64 KB).

A ``PutEvents`` answer with ``FailedEntryCount > 0`` (or ``Success: false``) is a failure coded
``EventBridge.<entry ErrorCode>``; API errors are ``EventBridge.<Code>``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError, PermanentSinkError, TransientSinkError
from ehpc_rerun.report import InvocationReport

from .render import STATUS_ORDER, most_serious, report_json_bytes

MAX_DATA_BYTES = 60_000
SPEC_VERSION = "1.0"
TYPE_PREFIX = "ehpc-rerun:Invocation:"


def parse_endpoint(endpoint: str) -> tuple[str, str]:
    """``(protocol, host[:port])`` from ``host[:port]`` or ``http(s)://host[:port]``."""
    if "://" not in endpoint:
        return "https", endpoint.strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"EHPC_RERUN_EVENTBRIDGE_ENDPOINT is not host[:port] or an http(s) URL: {endpoint!r}"
        )
    return parts.scheme, parts.netloc


def event_type(report: InvocationReport) -> str:
    worst = most_serious(report)
    return TYPE_PREFIX + (worst.value if worst else "none")


def subject(report: InvocationReport, region: str | None) -> str:
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    with_cluster = [o for o in report.outcomes if o.cluster_id]
    where = report.region or region or ""
    if not with_cluster:
        return f"acs:ehpc:{where}::invocations/{report.invocation_id}"
    first = min(with_cluster, key=lambda o: rank[o.status])  # min() keeps the first of equals
    return f"acs:ehpc:{first.region or where}::clusters/{first.cluster_id}"


def _event_time(started_at: str) -> str:
    """The invocation start if it is ISO 8601 (stable across retries), else now (RFC 3339, UTC)."""
    try:
        datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return started_at


def cloud_event(report: InvocationReport, source: str, region: str | None) -> dict[str, Any]:
    """The event as PutEvents fields (``PutEventsRequestEventList`` keyword arguments)."""
    return {
        "id": report.invocation_id,
        "source": source,
        "type": event_type(report),
        "subject": subject(report, region),
        "time": _event_time(report.started_at),
        "spec_version": SPEC_VERSION,
        "data_content_type": "application/json",
        "data": json.loads(report_json_bytes(report, MAX_DATA_BYTES)),
    }


def _is_transient(status: int | None, code: str) -> bool:
    return (
        (status or 0) >= 500
        or code.startswith("Throttling")
        or code in ("ServiceUnavailable", "InternalError")
    )


class EventBridgeSink:
    """Puts one CloudEvent per invocation on an EventBridge bus."""

    name = "eventbridge"

    def __init__(
        self,
        bus: str,
        endpoint: str | None,
        region: str | None,
        source: str,
        credentials: Credentials,
        *,
        timeout_s: float = 3.0,
    ) -> None:
        if not endpoint and not region:
            raise ConfigError(
                "the EventBridge sink needs EHPC_RERUN_REGION or EHPC_RERUN_EVENTBRIDGE_ENDPOINT"
            )
        self._bus = bus
        self._protocol = "https"
        self._endpoint: str | None = None
        if endpoint:
            self._protocol, self._endpoint = parse_endpoint(endpoint)
        self._region = region
        self._source = source
        self._credentials = credentials
        self._timeout_ms = max(1, int(timeout_s * 1000))
        self.last_event_ids: list[str] = []

    def wants(self, report: InvocationReport) -> bool:
        return True

    def _client(self) -> Any:
        from alibabacloud_eventbridge20200401.client import Client
        from alibabacloud_tea_openapi.models import Config

        creds = self._credentials
        config = Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token or None,
            region_id=self._region,
            endpoint=self._endpoint,
            protocol=self._protocol,
            connect_timeout=self._timeout_ms,
            read_timeout=self._timeout_ms,
        )
        return Client(config)

    def publish(self, report: InvocationReport) -> None:
        from alibabacloud_eventbridge20200401 import models
        from darabonba.exceptions import ResponseException

        request = models.PutEventsRequest(
            event_bus_name=self._bus,
            event_list=[models.PutEventsRequestEventList(**cloud_event(report, self._source, self._region))],
        )
        try:
            response = self._client().put_events(request)
        except ResponseException as exc:
            code = str(getattr(exc, "code", None) or "Error")
            status = getattr(exc, "status_code", None)
            request_id = getattr(exc, "request_id", None) or "-"
            error = TransientSinkError if _is_transient(status, code) else PermanentSinkError
            raise error(
                f"PutEvents to bus {self._bus} failed ({status}): {getattr(exc, 'message', '')} "
                f"(RequestId {request_id})",
                code=f"EventBridge.{code}",
            ) from None
        except Exception as exc:  # transport: darabonba wraps it in UnretryableException
            inner = getattr(exc, "inner_exception", exc)
            timed_out = "timeout" in f"{type(inner).__name__} {inner}".lower()
            raise TransientSinkError(
                f"PutEvents to bus {self._bus}: {type(inner).__name__}: {str(inner)[:300]}",
                code="EventBridge.Timeout" if timed_out else "EventBridge.Transport",
            ) from None
        self._check(response)

    def _check(self, response: Any) -> None:
        body = response.body
        data = getattr(body, "data", None)
        failed = int(getattr(data, "failed_entry_count", 0) or 0) if data is not None else 0
        entries = list(getattr(data, "entry_list", None) or []) if data is not None else []
        request_id = getattr(body, "request_id", None) or "-"
        if failed > 0:
            bad = next((e for e in entries if getattr(e, "error_code", None)), None)
            code = str(getattr(bad, "error_code", None) or "FailedEntry")
            raise (TransientSinkError if _is_transient(None, code) else PermanentSinkError)(
                f"PutEvents rejected {failed} event(s): {getattr(bad, 'error_message', '') or ''} "
                f"(RequestId {request_id})",
                code=f"EventBridge.{code}",
            )
        if getattr(body, "success", None) is False:
            code = str(getattr(body, "code", None) or "NotSuccess")
            raise (TransientSinkError if _is_transient(None, code) else PermanentSinkError)(
                f"PutEvents answered Success=false: {getattr(body, 'message', '')} (RequestId {request_id})",
                code=f"EventBridge.{code}",
            )
        self.last_event_ids = [str(e.event_id) for e in entries if getattr(e, "event_id", None)]
