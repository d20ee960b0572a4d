"""Domain models: what a rerun request is, and what happened to each job.

These are the *domain* models. The wire shapes of each trigger live in :mod:`ehpc_rerun.sources`
and are unwrapped into :class:`RerunRequest` there (the Powertools parser split: envelopes apart
from the models they carry).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

# A cluster id looks like ``ehpc-<region code>-<id>``, e.g. ``ehpc-hz-FYUr32a1b2`` (ehpc-api.md §2).
CLUSTER_ID_PATTERN = r"^ehpc-[a-z0-9]{2,8}-[A-Za-z0-9]{1,40}$"
# Region ids as E-HPC lists them: cn-hangzhou, ap-southeast-1, cn-wuhan-lr, ...
REGION_PATTERN = r"^[a-z]{2,4}(-[a-z0-9]{1,20}){1,3}$"
MAX_JOB_ID_LENGTH = 128
MAX_REASON_LENGTH = 1000
# C0/C1 controls, plus invisible format characters that could spoof text in logs and chat messages:
# zero-width, bidi embeddings/overrides/isolates, line/paragraph separators, BOM.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def printable(value: str) -> str:
    """``value`` with lone surrogates escaped (``\\ud800``), so that it can be encoded as UTF-8.

    JSON escapes such as ``"\\ud800"`` decode to lone surrogates; a record or message that echoes one
    would make the JSON log line and the HTTP reply fail to encode.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _printable_fields(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, (list, tuple)):
        return tuple(printable(v) if isinstance(v, str) else v for v in value)
    return value


def _job_id(value: str) -> str:
    _no_control_characters(value)
    if value != value.strip():
        raise ValueError("must not start or end with white space")
    return value


ClusterId = Annotated[
    str,
    StringConstraints(min_length=6, max_length=64, pattern=CLUSTER_ID_PATTERN),
]
JobId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_JOB_ID_LENGTH),
    AfterValidator(_job_id),
]
Region = Annotated[str, StringConstraints(min_length=4, max_length=40, pattern=REGION_PATTERN)]


def _clean_reason(value: str) -> str:
    """A reason is free text for people: control characters become spaces rather than a rejection."""
    return _CONTROL.sub(" ", value)


Reason = Annotated[str, StringConstraints(max_length=MAX_REASON_LENGTH), AfterValidator(_clean_reason)]


class SourceKind(str, Enum):
    """Which trigger (or internal producer) a request came from."""

    HTTP = "http"
    CLOUDMONITOR = "cloudmonitor"
    MNS_QUEUE = "mns_queue"
    ROCKETMQ = "rocketmq"
    KAFKA = "kafka"
    EVENTBRIDGE = "eventbridge"
    MNS_TOPIC = "mns_topic"
    TIMER = "timer"
    DIRECT = "direct"
    DETECTOR = "detector"
    EHPC_NODE = "ehpc_node"  # E-HPC node events (EventBridge), and the reruns a node check decides


class RerunRequest(BaseModel):
    """One validated request: rerun these jobs of one cluster, for this reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_id: ClusterId
    job_ids: tuple[JobId, ...] = Field(min_length=1)
    region: Region | None = None
    reason: Reason = ""
    source: SourceKind
    source_id: str | None = Field(default=None, max_length=256)
    # The event's identity for exactly-once handling over its redelivery horizon (policy/event_memory.py):
    # the CloudEvent id, MNS MessageId, timer name@time, or the request's own ``idempotency_key``.
    event_id: str | None = Field(default=None, min_length=1, max_length=256)
    rule: str | None = Field(default=None, max_length=128)
    report_only: bool = False  # decide and report, never call RerunJobs (detector rules being watched)
    detail: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_characters(value)

    @field_validator("job_ids")
    @classmethod
    def _dedupe_keep_order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class Status(str, Enum):
    """The closed set of per-job statuses. ``severity`` orders them for tags and escalation."""

    RERUN = "rerun"  # RerunJobs accepted the job
    DRY_RUN = "dry_run"  # everything decided, no call made (setting)
    IGNORED = "ignored"  # nothing to do by design (alert OK, cluster not allowed, ...)
    DUPLICATE = "duplicate"  # rerun (or being rerun) within the dedupe window
    NOT_RERUNNABLE = "not_rerunnable"  # job is not RUNNING/QUEUED (pre-check or 406)
    REJECTED = "rejected"  # the record failed validation
    CAPPED = "capped"  # blast-radius cap: too many jobs in one invocation
    OVER_BUDGET = "over_budget"  # the job used up its reruns for the window: a human must look
    FAILED = "failed"  # E-HPC refused or kept failing
    UNKNOWN = "unknown"  # the call's fate is unknown (timeout after send): not repeated blindly
    UNPARSEABLE_TIME = "unparseable_time"  # detector: a job's times could not be read; never guessed

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def needs_human(self) -> bool:
        return self in HUMAN_STATUSES


_SEVERITY = {
    Status.RERUN: 0,
    Status.DRY_RUN: 0,
    Status.IGNORED: 0,
    Status.DUPLICATE: 0,
    Status.NOT_RERUNNABLE: 1,
    Status.REJECTED: 2,
    Status.UNPARSEABLE_TIME: 2,
    Status.CAPPED: 3,
    Status.OVER_BUDGET: 3,
    Status.FAILED: 4,
    Status.UNKNOWN: 4,
}
HUMAN_STATUSES = frozenset({Status.OVER_BUDGET, Status.CAPPED, Status.FAILED, Status.UNKNOWN})


class JobOutcome(BaseModel):
    """What happened to one job. Serialised as one JSON line on stdout (the record of last resort)."""

    model_config = ConfigDict(frozen=True)

    cluster_id: str | None
    job_id: str | None
    region: str | None = None
    status: Status
    error_code: str | None = None
    message: str | None = None
    transient: bool = False
    ehpc_request_id: str | None = None
    attempts: int = 0
    source: str
    source_id: str | None = None
    reason: str | None = None
    rule: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class RecordError(BaseModel):
    """A record of the event that could not become a :class:`RerunRequest`."""

    model_config = ConfigDict(frozen=True)

    source: SourceKind
    source_id: str | None = None
    index: int | None = None
    code: str
    errors: tuple[FieldError, ...] = ()
    message: str
    cluster_id: str | None = None
    job_ids: tuple[str, ...] = ()

    _printable = field_validator("source_id", "message", "cluster_id", "job_ids", mode="before")(
        _printable_fields
    )


class FieldError(BaseModel):
    """One validation problem: which field, and what was wrong with it."""

    model_config = ConfigDict(frozen=True)

    field: str
    problem: str

    _printable = field_validator("field", "problem", mode="before")(_printable_fields)


class Acknowledged(BaseModel):
    """A record that is understood and deliberately needs no rerun (e.g. an alert back to OK)."""

    model_config = ConfigDict(frozen=True)

    source: SourceKind
    source_id: str | None = None
    cluster_id: str | None = None
    job_ids: tuple[str, ...] = ()
    message: str

    _printable = field_validator("source_id", "cluster_id", "job_ids", "message", mode="before")(
        _printable_fields
    )


RecordError.model_rebuild()
