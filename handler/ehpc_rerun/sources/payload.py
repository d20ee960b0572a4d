"""Message payloads -> RerunRequests: the request JSON every trigger carries, in any wrapping.

A payload (HTTP body, queue message, topic message, timer payload, direct invoke) is one of:

* our request ``{"cluster_id": "...", "job_ids": ["..."], "reason": "...", "region": "..."}``;
* the API's own form ``{"ClusterId": "...", "Jobs": [{"Id": "..."}]}`` (``Jobs`` may be the JSON string);
* a list of those, or ``{"requests": [...]}``;
* a CloudMonitor alert (form-urlencoded, or its fields as a JSON object);
* any of the above as a string that needs a second parse, possibly Base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ehpc_rerun.models import Acknowledged, FieldError, RecordError, RerunRequest, SourceKind

from . import cloudmonitor

Record = RerunRequest | RecordError | Acknowledged

OWN_KEYS = frozenset({"cluster_id", "job_ids", "job_id", "reason", "region", "idempotency_key"})
MAX_NESTING = 8


@dataclass(frozen=True)
class Origin:
    """Where a payload came from: kept on every record it yields."""

    source: SourceKind
    source_id: str | None
    max_jobs: int
    # the event's identity, where its source gives one that a redelivery repeats (not FC's request id)
    event_id: str | None = None


def decode_text(text: str) -> Any:
    """Second parse of a message body: JSON, else Base64 of JSON; raises ValueError otherwise."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        pass
    try:
        raw = base64.b64decode(stripped, validate=True)
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("not JSON and not Base64-encoded JSON") from None


def records_from_payload(
    payload: Any, origin: Origin, *, index: int | None = None, depth: int = 0
) -> list[Record]:
    """Turn one payload (already JSON-parsed, or a string needing a second parse) into records."""
    if depth > MAX_NESTING:
        return [
            _error(origin, index, "InvalidPayload", f"payload nested more than {MAX_NESTING} levels deep")
        ]
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            return [_error(origin, index, "InvalidPayload", "message body is not UTF-8 text")]
    if isinstance(payload, str):
        if cloudmonitor.looks_like_form(payload):
            return [cloudmonitor.from_form(payload, origin.source_id, origin.max_jobs)]
        try:
            payload = decode_text(payload)
        except ValueError as exc:
            return [_error(origin, index, "InvalidPayload", f"message body is {exc}")]
        return records_from_payload(payload, origin, index=index, depth=depth + 1)
    if isinstance(payload, list):
        if not payload:
            return [_error(origin, index, "EmptyBatch", "the list of requests is empty")]
        records: list[Record] = []
        for position, item in enumerate(payload):
            if isinstance(item, list):
                records.append(
                    _error(origin, position, "InvalidRequest", "a list inside a list is not a request")
                )
            else:
                records.extend(records_from_payload(item, origin, index=position, depth=depth + 1))
        return records
    if isinstance(payload, dict):
        if "requests" in payload and isinstance(payload["requests"], list) and len(payload) == 1:
            return records_from_payload(payload["requests"], origin, index=index, depth=depth + 1)
        if cloudmonitor.is_alert(payload):
            return [cloudmonitor.from_fields(payload, origin.source_id, origin.max_jobs)]
        return [to_request(payload, origin, index=index)]
    return [
        _error(
            origin,
            index,
            "InvalidRequest",
            f"expected a JSON object with cluster_id and job_ids, got {type(payload).__name__}",
        )
    ]


def to_request(item: dict[str, Any], origin: Origin, *, index: int | None = None) -> Record:
    """Validate one request object (our form or the API's) into a :class:`RerunRequest`."""
    if "ClusterId" in item or "Jobs" in item:
        converted = _from_api_form(item, origin, index)
        if isinstance(converted, RecordError):
            return converted
        item = converted
    unknown = sorted(set(item) - OWN_KEYS)
    cluster = item.get("cluster_id") if isinstance(item.get("cluster_id"), str) else None
    if unknown:
        return _error(
            origin,
            index,
            "InvalidRequest",
            "unknown fields: "
            + ", ".join(k[:64] for k in unknown[:10])
            + " (expected cluster_id, job_ids, reason, region, idempotency_key)",
            cluster_id=cluster,
        )
    job_ids = item.get("job_ids")
    if job_ids is None and "job_id" in item:
        job_ids = [item["job_id"]]
    if isinstance(job_ids, list) and len(job_ids) > origin.max_jobs:
        return _error(
            origin,
            index,
            "TooManyJobs",
            f"{len(job_ids)} job ids in one request; at most {origin.max_jobs} are allowed "
            "(EHPC_RERUN_MAX_JOBS_PER_REQUEST): split the request",
            cluster_id=cluster,
        )
    data = {
        "cluster_id": item.get("cluster_id"),
        "job_ids": job_ids,
        "reason": item.get("reason") or "",
        "region": item.get("region"),
        "source": origin.source,
        "source_id": origin.source_id,
        "event_id": item.get("idempotency_key", origin.event_id),
    }
    for key in ("cluster_id", "job_ids", "region", "event_id"):  # absent is "required", not "wrong type"
        if data[key] is None:
            data.pop(key)
    return validate_request(data, origin, index)


def validate_request(data: dict[str, Any], origin: Origin, index: int | None) -> Record:
    try:
        return RerunRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # pydantic counts only the items that validated, so one bad job id also reports "at least 1
        # item ... not 0" for job_ids: misleading when the caller did send job ids; keep the item errors
        bad_items = any(len(e["loc"]) > 1 and e["loc"][0] == "job_ids" for e in errors)
        problems = tuple(
            FieldError(field=_field_name(err["loc"]), problem=_problem(err))
            for err in errors
            if not (bad_items and err["type"] == "too_short" and tuple(err["loc"]) == ("job_ids",))
        )
        cluster = data.get("cluster_id") if isinstance(data.get("cluster_id"), str) else None
        jobs = data.get("job_ids")
        return RecordError(
            source=origin.source,
            source_id=origin.source_id,
            index=index,
            code="InvalidRequest",
            errors=problems,
            message="; ".join(f"{p.field}: {p.problem}" for p in problems),
            cluster_id=cluster[:64] if cluster else None,
            job_ids=tuple(j[:128] for j in jobs if isinstance(j, str))[:100]
            if isinstance(jobs, list)
            else (),
        )


def _field_name(loc: tuple[Any, ...]) -> str:
    """The field as the caller wrote it (``event_id`` is read from ``idempotency_key``)."""
    parts = ["idempotency_key" if i == 0 and p == "event_id" else str(p) for i, p in enumerate(loc)]
    return ".".join(parts) or "request"


def _problem(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "string_pattern_mismatch" and err["loc"] and err["loc"][0] == "cluster_id":
        return "must look like ehpc-<region code>-<id>, e.g. ehpc-hz-FYUr32a1b2"
    if err.get("type") == "missing":
        return "is required"
    return msg


def _from_api_form(item: dict[str, Any], origin: Origin, index: int | None) -> dict[str, Any] | RecordError:
    jobs = item.get("Jobs")
    if isinstance(jobs, str):
        try:
            jobs = json.loads(jobs)
        except (ValueError, RecursionError):
            return _error(
                origin, index, "InvalidRequest", 'Jobs: not valid JSON; expected [{"Id": "1.scheduler"}]'
            )
    if not isinstance(jobs, list) or not all(
        isinstance(j, dict) and isinstance(j.get("Id"), str) for j in jobs
    ):
        return _error(origin, index, "InvalidRequest", 'Jobs: expected a list like [{"Id": "1.scheduler"}]')
    extra = sorted(set(item) - {"ClusterId", "Jobs", "RegionId", "Async", "Reason"})
    if extra:
        names = ", ".join(k[:64] for k in extra[:10])
        return _error(origin, index, "InvalidRequest", "unknown fields: " + names)
    return {
        "cluster_id": item.get("ClusterId"),
        "job_ids": [j["Id"] for j in jobs],
        "region": item.get("RegionId"),
        "reason": item.get("Reason") or "",
    }


def _error(
    origin: Origin, index: int | None, code: str, message: str, *, cluster_id: str | None = None
) -> RecordError:
    return RecordError(
        source=origin.source,
        source_id=origin.source_id,
        index=index,
        code=code,
        message=message,
        cluster_id=cluster_id[:64] if cluster_id else None,
    )


def error_record(origin: Origin, code: str, message: str, *, index: int | None = None) -> RecordError:
    return _error(origin, index, code, message)


def scan_request(value: Any, origin: Origin) -> tuple[dict[str, Any] | None, list[Record]]:
    """``{"scan": value}``: a detector scan when ``value`` is an object, else a rejected record."""
    if isinstance(value, dict):
        return value, []
    problem = '"scan" must be an object such as {"scan": {}} or {"scan": {"clusters": [...]}}, '
    return None, [_error(origin, None, "InvalidScan", problem + f"got {type(value).__name__}")]
