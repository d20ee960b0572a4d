"""FC 3.0 HTTP trigger: the JSON event with ``version``, ``rawPath``, ``headers``, ``body``, ...

(fc-events.md §2.1.) POST carries a request (JSON) or a CloudMonitor alert callback (form-urlencoded,
maybe Base64); GET on ``.../health`` answers without touching E-HPC. Everything that ends the request
early (auth, size, type, method) becomes an :class:`HttpReply`; every reply is JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ehpc_rerun import __version__
from ehpc_rerun.models import SourceKind
from ehpc_rerun.settings import Settings

from . import cloudmonitor, http_auth
from .base import HttpReply, Unwrapped
from .payload import Origin, error_record, records_from_payload, scan_request

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"


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
            if path.rstrip("/").endswith("/health") or path.rstrip("/") == "":
                ok = Unwrapped(SourceKind.HTTP, http=True)
                ok.reply = HttpReply(200, {"status": "ok", "service": "ehpc-rerun", "version": __version__})
                return ok
            return _reply(404, "NotFound", "GET serves only /health; send rerun requests with POST")
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
        is_form = ctype == FORM_TYPE or (not ctype and cloudmonitor.looks_like_form(text))
        if ctype and not is_form and ctype not in JSON_TYPES and not ctype.endswith("+json"):
            return _reply(
                415,
                "UnsupportedMediaType",
                f"content type {ctype[:80]!r} is not accepted: send application/json "
                f"(requests) or {FORM_TYPE} (CloudMonitor alert callbacks)",
            )
        auth = http_auth.check(
            settings, headers=headers, query=http.queryParameters, body=body, is_alert_callback=is_form
        )
        if not auth.ok:
            return _reply(auth.status, auth.code, auth.message)
        request_id = http.requestContext.requestId
        if is_form:
            records = [cloudmonitor.from_form(text, request_id, settings.max_jobs_per_request)]
            return Unwrapped(SourceKind.CLOUDMONITOR, records, http=True, replay_key=auth.replay_key)
        origin = Origin(SourceKind.HTTP, request_id, settings.max_jobs_per_request)
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
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
