"""CloudMonitor threshold-alert callbacks -> RerunRequests.

The callback is form-urlencoded (fc-events.md §2.5 (i)); through EventBridge the same fields arrive as
the ``data`` object of a ``cms:CloudMonitor:AlertWebHook`` event (§2.5 (ii)). The alert must carry the
job in its dimensions, written as CloudMonitor writes them (not JSON)::

    dimensions={clusterId=ehpc-hz-FYUr32a1b2, jobId=1.scheduler}

Only ``alertState=ALERT`` leads to a rerun; ``OK`` and ``INSUFFICIENT_DATA`` are acknowledged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ehpc_rerun.models import Acknowledged, FieldError, RecordError, RerunRequest, SourceKind

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORM_HINT = re.compile(r"(^|&)(alertState|alertName|dimensions)=")
_CLUSTER_KEYS = ("clusterId", "cluster_id", "ClusterId", "clusterID")
_JOB_KEYS = ("jobId", "job_id", "JobId", "jobID", "jobIds")


def looks_like_form(text: str) -> bool:
    return "=" in text and bool(_FORM_HINT.search(text.strip()))


MAX_FORM_FIELDS = 200


def parse_form(text: str) -> dict[str, str]:
    """Raises ValueError for more than :data:`MAX_FORM_FIELDS` fields (use :func:`from_form`)."""
    return dict(parse_qsl(text.strip(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))


def from_form(text: str, source_id: str | None, max_jobs: int) -> RerunRequest | RecordError | Acknowledged:
    """A form-urlencoded callback body -> one record; a body with too many fields is an error record."""
    try:
        fields = parse_form(text)
    except ValueError:
        return _error(source_id, "body", f"more than {MAX_FORM_FIELDS} form fields; not an alert callback")
    return from_fields(fields, source_id, max_jobs)


def is_alert(data: Mapping[str, Any]) -> bool:
    return "alertState" in data and ("dimensions" in data or "alertName" in data)


def parse_dimensions(value: Any) -> dict[str, str]:
    """``{userId=1, clusterId=ehpc-hz-x, jobId=1.sched}`` -> dict (a JSON object is accepted too)."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    text = str(value or "").strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip().strip('"')] = val.strip().strip('"')
    return out


def from_fields(
    data: Mapping[str, Any], source_id: str | None, max_jobs: int, *, event_id: str | None = None
) -> RerunRequest | RecordError | Acknowledged:
    """One alert -> a request (ALERT), an acknowledgement (OK, INSUFFICIENT_DATA) or an error.

    Its event identity is the delivering CloudEvent's id, else the alert's ``transId`` (CloudMonitor's
    id of one notification, which its callback retries repeat); a rule id is not one (a rule fires often).
    """
    state = str(data.get("alertState", "")).strip().upper()
    alert_id = (str(data.get("transId") or "") or source_id or str(data.get("ruleId") or ""))[:256] or None
    dims = parse_dimensions(data.get("dimensions"))
    cluster = next((dims[k] for k in _CLUSTER_KEYS if dims.get(k)), None)
    raw_jobs = next((dims[k] for k in _JOB_KEYS if dims.get(k)), None)
    jobs = tuple(j.strip() for j in re.split(r"[;|\s]+", raw_jobs) if j.strip()) if raw_jobs else ()
    name = str(data.get("alertName") or "unnamed alert")
    if state in ("OK", "INSUFFICIENT_DATA"):
        return Acknowledged(
            source=SourceKind.CLOUDMONITOR,
            source_id=alert_id,
            cluster_id=cluster,
            job_ids=jobs,
            message=f"alert '{name}' is {state}: no action",
        )
    if state != "ALERT":
        return _error(alert_id, "alertState", f"must be ALERT, OK or INSUFFICIENT_DATA, got {state[:40]!r}")
    if not cluster or not jobs:
        return _error(
            alert_id,
            "dimensions",
            "the alert's dimensions must name the cluster and the job, e.g. "
            "{clusterId=ehpc-hz-FYUr32a1b2, jobId=1.scheduler}; add them to the alert rule",
        )
    if len(jobs) > max_jobs:
        return _error(alert_id, "dimensions.jobId", f"{len(jobs)} job ids; at most {max_jobs} per request")
    metric = str(data.get("metricName") or "")
    expression = str(data.get("expression") or "")
    current = str(data.get("curValue") or "")
    reason = f"CloudMonitor alert '{name}'"
    if metric:
        reason += f": {metric} {expression} (current {current})".replace("  ", " ")
    reason = _CONTROL.sub(" ", reason)
    region = str(data.get("regionId") or "")
    from .payload import Origin, validate_request

    origin = Origin(SourceKind.CLOUDMONITOR, alert_id, max_jobs)
    trans_id = str(data.get("transId") or "")[:256] or None
    return validate_request(
        {
            "cluster_id": cluster,
            "job_ids": list(jobs),
            "reason": reason[:1000],
            "region": region if region and region != "null" else None,
            "source": SourceKind.CLOUDMONITOR,
            "source_id": alert_id,
            "event_id": event_id or trans_id,
        },
        origin,
        None,
    )


def _error(alert_id: str | None, field: str, problem: str) -> RecordError:
    return RecordError(
        source=SourceKind.CLOUDMONITOR,
        source_id=alert_id,
        code="InvalidAlert",
        errors=(FieldError(field=field, problem=problem),),
        message=f"{field}: {problem}",
    )
