"""The escalation digest's shared state: the pending-escalations document and the window document.

Both live in the state store as small JSON documents (``read_docs`` / ``write_docs``, compare-and-set):

* ``digest:pending`` -- :class:`Pending`: the escalated jobs waiting for the next DingTalk message.
  Bounded: at most ``KEEP_FACTOR x dingtalk_digest_max_jobs`` entries are kept (most serious first,
  then the earliest); every other one is only counted per status in ``overflow``. Entries never carry
  a secret (cluster, job, status, error code, a clipped message, time, invocation id).
* ``digest:window`` -- :class:`Window`: when the last message went out, and by which invocation. It
  lives exactly one window (``ttl_ms``), so "the window has passed" is "the document is absent", and
  claiming the next message is one write that only succeeds where none is live.

This module is pure (no store, no network): what to append, what to keep after a send.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ehpc_rerun.models import Status
from ehpc_rerun.report import InvocationReport

PENDING_KEY = "digest:pending"
WINDOW_KEY = "digest:window"
PENDING_TTL_MS = 86_400_000  # entries nobody flushed for a day are dropped (each is in the log anyway)
KEEP_FACTOR = 2  # entries kept in the document: KEEP_FACTOR x dingtalk_digest_max_jobs
MAX_FAILED_SENDS = 3  # a digest entry is given up (it is in the sink_failed lines) after this many
MESSAGE_CHARS = 120


class Entry(BaseModel):
    """One escalated job, as the digest lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    cluster_id: str | None = None
    job_id: str | None = None
    status: str
    error_code: str | None = None
    message: str | None = None
    reruns: int | None = None  # over_budget: reruns in the budget window
    source: str | None = None
    invocation_id: str
    at_ms: int
    failed_sends: int = 0

    @property
    def severity(self) -> int:
        try:
            return Status(self.status).severity
        except ValueError:
            return 0


class Pending(BaseModel):
    """The escalations waiting for the next message."""

    model_config = ConfigDict(frozen=True)

    entries: tuple[Entry, ...] = ()
    overflow: dict[str, int] = Field(default_factory=dict)  # escalations beyond the kept entries
    overflow_failed_sends: int = 0  # messages that carried the overflow counts and were not delivered

    @property
    def empty(self) -> bool:
        return not self.entries and not any(self.overflow.values())

    @property
    def total(self) -> int:
        return len(self.entries) + sum(self.overflow.values())

    def counts(self) -> dict[str, int]:
        counts = dict(self.overflow)
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        return {status: n for status, n in counts.items() if n}

    def dumps(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)

    sent_ms: int
    by: str  # the invocation that claimed it
    throttled: bool = False  # the robot said "too fast": this window lasts the robot's throttle


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= MESSAGE_CHARS else flat[: MESSAGE_CHARS - 1] + "…"


def _reruns(detail: dict[str, object]) -> int | None:
    for key in ("reruns_in_window", "reruns"):
        value = detail.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def entries_from(report: InvocationReport, statuses: Iterable[str], now_ms: int) -> list[Entry]:
    """The report's jobs whose status is escalated to people (``dingtalk_statuses``)."""
    wanted = frozenset(statuses)
    return [
        Entry(
            id=uuid.uuid4().hex[:16],
            cluster_id=o.cluster_id,
            job_id=o.job_id,
            status=o.status.value,
            error_code=o.error_code,
            message=_clip(o.message or o.reason),
            reruns=_reruns(o.detail),
            source=o.source,
            invocation_id=report.invocation_id,
            at_ms=now_ms,
        )
        for o in report.outcomes
        if o.status.value in wanted
    ]


def _rank(entry: Entry) -> tuple[int, int]:
    return (-entry.severity, entry.at_ms)


def merge(pending: Pending, new: Sequence[Entry], cap: int) -> Pending:
    """``pending`` plus ``new``, keeping at most ``cap`` entries (most serious, then earliest)."""
    combined = list(pending.entries) + list(new)
    if len(combined) <= cap:
        return Pending(entries=tuple(combined), overflow=pending.overflow)
    ranked = sorted(combined, key=_rank)  # stable: equal rank keeps arrival order
    overflow = dict(pending.overflow)
    for entry in ranked[cap:]:
        overflow[entry.status] = overflow.get(entry.status, 0) + 1
    return Pending(entries=tuple(ranked[:cap]), overflow=overflow)


def _minus(counts: dict[str, int], taken: dict[str, int]) -> dict[str, int]:
    left = {status: n - taken.get(status, 0) for status, n in counts.items()}
    return {status: n for status, n in left.items() if n > 0}


def settle(current: Pending, sent: Pending, *, keep: bool) -> tuple[Pending, Pending]:
    """The pending document after a message carrying ``sent`` was tried: ``(new document, given up)``.

    Delivered, or refused for good (``keep=False``): what was sent leaves the document; entries
    appended meanwhile stay. Not delivered (``keep=True``): what was sent stays for the next window
    with one more failed send, except what reaches :data:`MAX_FAILED_SENDS`, which is given up
    (returned: the caller's ``sink_failed`` line carries it).
    """
    sent_ids = {entry.id for entry in sent.entries}
    if not keep:
        kept = tuple(e for e in current.entries if e.id not in sent_ids)
        return Pending(entries=kept, overflow=_minus(current.overflow, sent.overflow)), Pending()
    entries: list[Entry] = []
    given_up: list[Entry] = []
    for entry in current.entries:
        tried = entry.model_copy(update={"failed_sends": entry.failed_sends + 1})
        if entry.id not in sent_ids:
            entries.append(entry)
        elif tried.failed_sends >= MAX_FAILED_SENDS:
            given_up.append(tried)
        else:
            entries.append(tried)
    overflow, fails, lost = current.overflow, current.overflow_failed_sends, {}
    if any(sent.overflow.values()):
        fails += 1
        if fails >= MAX_FAILED_SENDS:
            overflow, fails, lost = _minus(current.overflow, sent.overflow), 0, dict(sent.overflow)
    kept_doc = Pending(entries=tuple(entries), overflow=overflow, overflow_failed_sends=fails)
    return kept_doc, Pending(entries=tuple(given_up), overflow=lost)


def parse_pending(value: str) -> Pending:
    """The document, or :class:`ValueError` naming what is wrong (a corrupt document is replaced)."""
    try:
        return Pending.model_validate_json(value)
    except ValidationError as exc:
        problems = exc.error_count()
        raise ValueError(f"the {PENDING_KEY} document is not a digest: {problems} problem(s)") from None


def window_value(sent_ms: int, by: str, *, throttled: bool = False) -> str:
    return json.dumps(Window(sent_ms=sent_ms, by=by, throttled=throttled).model_dump(), separators=(",", ":"))
