"""Shapes of what the handler returns: FC HTTP responses and JSON summaries.

HTTP status codes (also in the README):

| status | when |
|--------|------|
| 200 | every job got a decision without failure (rerun, dry_run, duplicate, ignored, not_rerunnable, |
|     | over_budget, capped) |
| 207 | some jobs failed, were rejected or have an unknown fate, others did not |
| 400 | the request was invalid as a whole: every record rejected; the body lists each error |
| 502 | every job failed permanently at E-HPC or has an unknown fate |
| 503 | every job failed transiently (Retry-After set), or the state store is down |
| 500 | no decision could be made at all (e.g. MissingCredentials); nothing was rerun |
| 401, 404, 405, 413, 415 | auth, path, method, size and content-type checks, before any work |
"""

from __future__ import annotations

import json
from typing import Any

from .models import Status, printable
from .report import InvocationReport

BAD = frozenset({Status.FAILED, Status.UNKNOWN, Status.REJECTED})


def http_response(
    status: int, body: dict[str, Any], invocation_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    payload = {"request_id": invocation_id, **body}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        "isBase64Encoded": False,
        "body": printable(json.dumps(payload, ensure_ascii=False)),
    }


def summary_line(report: InvocationReport) -> dict[str, Any]:
    return {
        "invocation_id": report.invocation_id,
        "source": report.source,
        "counts": report.counts,
        "most_serious": report.most_serious.value if report.most_serious else None,
        "needs_human": report.needs_human,
        "note": report.note,
        "summary": report.summary,
        "outcomes": [o.model_dump(mode="json") for o in report.outcomes],
    }


def summary_body(report: InvocationReport) -> tuple[int, dict[str, Any], dict[str, str]]:
    outcomes = report.outcomes
    body = summary_line(report)
    body.pop("invocation_id")
    headers: dict[str, str] = {}
    if not outcomes:
        return 200, body, headers
    if all(o.status is Status.REJECTED for o in outcomes):
        body["errors"] = [
            {
                "index": o.detail.get("index"),
                "code": o.error_code,
                "message": o.message,
                "fields": o.detail.get("errors"),
            }
            for o in outcomes
        ]
        return 400, body, headers
    bad = [o for o in outcomes if o.status in BAD]
    if not bad:
        return 200, body, headers
    if len(bad) < len(outcomes):
        return 207, body, headers
    if all(o.status is Status.FAILED and o.transient for o in bad):
        headers["Retry-After"] = "30"
        return 503, body, headers
    return 502, body, headers
