"""FC 3.0 HTTP trigger: the JSON event with ``version``, ``rawPath``, ``headers``, ``body``, ...

(fc-events.md §2.1.) POST carries a request (JSON) or a CloudMonitor alert callback (form-urlencoded,
maybe Base64); GET routes (``.../health``, ``.../jobs/{cluster_id}/{job_id}``) are in :mod:`.http_routes`.
Everything that ends the request early (auth, size, type, method, path) becomes an :class:`HttpReply`;
every reply is JSON.

Content types: JSON (``application/json``, ``text/json``, ``*/*+json``) and form-urlencoded are taken as
labelled. A body labelled ``application/octet-stream`` or ``text/plain``, or not labelled at all, is taken
as JSON when it parses as JSON: FC's own console/Serverless Devs test events send
``application/octet-stream`` (devsapp/fc3 ``src/subCommands/trigger-template/event-template/http.json``).
Unlabelled form bodies stay CloudMonitor callbacks; any other type is 415.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from . import cloudmonitor, http_auth, http_routes
from .base import HttpReply, Unwrapped
from .payload import Origin, error_record, records_from_payload, scan_request

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"
# taken as JSON when the body parses as JSON ("" = no Content-Type header)
UNLABELLED_TYPES = ("application/octet-stream", "text/plain", "")
_NOT_JSON = object()


class HttpMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")
    method: str
    path: str = "/"


class HttpRequestContext(BaseModel):
    model_config = ConfigDict(extra="ignore")
    requestId: str | None = None
    http: HttpMeta


class HttpEvent(BaseModel):
    """The wire shape, kept apart from what it carries."""

    model_config = ConfigDict(extra="ignore")
    version: str
    rawPath: str = "/"
    headers: dict[str, str] = {}
    queryParameters: dict[str, str] = {}
    body: str | None = None
    isBase64Encoded: bool = False
    requestContext: HttpRequestContext


def _reply(status: int, code: str, message: str, **headers: str) -> Unwrapped:
    body = {"error": {"code": code, "message": message}}
    return Unwrapped(SourceKind.HTTP, http=True, reply=HttpReply(status, body, dict(headers)))


class HttpSource:
    kind = SourceKind.HTTP

    def matches(self, event: Any) -> bool:
        return (
            isinstance(event, dict)
            and "requestContext" in event
            and ("rawPath" in event or "version" in event)
        )

    def unwrap(self, event: Any, settings: Settings) -> Unwrapped:
        try:
            http = HttpEvent.model_validate(event)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])[:200]  # loc may hold header names
            return _reply(400, "InvalidEvent", f"not a valid HTTP trigger event: {where}: {first['msg']}")
        method = http.requestContext.http.method.upper()
        path = http.requestContext.http.path or http.rawPath
        if method in ("GET", "HEAD"):
            return _get(http, method, path, settings)
        if method != "POST":
            return _reply(
                405,
                "MethodNotAllowed",
                "use POST for rerun requests (GET /health for a health check)",
                Allow="POST, GET",
            )
        body = self._body(http, settings)
        if isinstance(body, Unwrapped):
            return body
        headers = {k.lower(): v for k, v in http.headers.items()}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        text = body.decode("utf-8", errors="replace")
        payload: Any = _NOT_JSON
        if ctype in UNLABELLED_TYPES:
            payload = _json_or_not(text)
        is_form = ctype == FORM_TYPE or (
            not ctype and payload is _NOT_JSON and cloudmonitor.looks_like_form(text)
        )
        refused = _refused_type(ctype, is_form=is_form, parsed=payload is not _NOT_JSON)
        if refused:
            return _reply(415, "UnsupportedMediaType", refused)
        auth = http_auth.check(
            settings,
            method=method,
            path=path,
            headers=headers,
            query=http.queryParameters,
            body=body,
            is_alert_callback=is_form,
        )
        if not auth.ok:
            return _reply(auth.status, auth.code, auth.message)
        request_id = http.requestContext.requestId
        if is_form:
            records = [cloudmonitor.from_form(text, request_id, settings.max_jobs_per_request)]
            return Unwrapped(SourceKind.CLOUDMONITOR, records, http=True, replay_key=auth.replay_key)
        origin = Origin(SourceKind.HTTP, request_id, settings.max_jobs_per_request)
        if payload is _NOT_JSON:
            payload = _json_or_not(text)
        if payload is _NOT_JSON:
            return _reply(400, "InvalidJson", "the body is not valid JSON")
        if isinstance(payload, dict) and set(payload) == {"scan"}:
            scan, rejected = scan_request(payload["scan"], origin)
            return Unwrapped(SourceKind.HTTP, rejected, http=True, scan=scan, replay_key=auth.replay_key)
        records = (
            records_from_payload(payload, origin)
            if payload is not None
            else [error_record(origin, "InvalidRequest", "the body is empty")]
        )
        return Unwrapped(SourceKind.HTTP, records, http=True, replay_key=auth.replay_key)

    @staticmethod
    def _body(http: HttpEvent, settings: Settings) -> bytes | Unwrapped:
        raw = http.body or ""
        if len(raw) > settings.http_max_body_bytes * 4 // 3 + 4:
            return _reply(413, "PayloadTooLarge", f"the body exceeds {settings.http_max_body_bytes} bytes")
        if http.isBase64Encoded:
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                return _reply(400, "InvalidBody", "isBase64Encoded is true but the body is not valid Base64")
        else:
            data = raw.encode("utf-8", errors="surrogatepass")
        if len(data) > settings.http_max_body_bytes:
            return _reply(413, "PayloadTooLarge", f"the body exceeds {settings.http_max_body_bytes} bytes")
        return data


def _get(http: HttpEvent, method: str, path: str, settings: Settings) -> Unwrapped:
    """A GET (or HEAD): open routes answer at once; signed ones are authenticated like a POST first,
    over the empty body (whatever body came), and a history query goes on to the handler."""
    found = http_routes.find(path)
    replay_key = None
    if found is not None and found[0].signed:
        auth = http_auth.check(
            settings,
            method=method,
            path=path,
            headers={k.lower(): v for k, v in http.headers.items()},
            query=http.queryParameters,
            body=b"",
            is_alert_callback=False,
        )
        if not auth.ok:
            return _reply(auth.status, auth.code, auth.message)
        replay_key = auth.replay_key
    answer = http_routes.route_get(path, method, http.queryParameters)
    if isinstance(answer, HttpReply):
        return Unwrapped(SourceKind.HTTP, http=True, reply=answer)
    return Unwrapped(SourceKind.HTTP, http=True, history_query=answer, replay_key=replay_key)


def _json_or_not(text: str) -> Any:
    """The parsed body, or ``_NOT_JSON`` (``None`` is a valid parse: the JSON literal null)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _refused_type(ctype: str, *, is_form: bool, parsed: bool) -> str | None:
    """Why the content type is refused (415), or None when the body can be read."""
    if not ctype or is_form or ctype in JSON_TYPES or ctype.endswith("+json"):
        return None
    if ctype in UNLABELLED_TYPES and parsed:
        return None
    when = " for a body that is not JSON" if ctype in UNLABELLED_TYPES else ""
    return (
        f"content type {ctype[:80]!r} is not accepted{when}: send application/json "
        f"(requests) or {FORM_TYPE} (CloudMonitor alert callbacks)"
    )
