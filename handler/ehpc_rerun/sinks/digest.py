"""Escalations to people, digested: at most one DingTalk message per window for the whole function.

A DingTalk robot takes about 20 messages a minute and is then throttled for 10 minutes; DingTalk's
advice is one merged markdown digest (production.md, "People's channels"). So the DingTalk sink is
wrapped by :class:`DigestSink`, which every invocation runs, whatever its trigger:

1. One read of ``digest:pending`` and ``digest:window`` (:mod:`.digest_doc`). Nothing pending and
   nothing escalated by this invocation: done -- that read is the whole cost.
2. This invocation's escalated jobs (``dingtalk_statuses``) are appended to ``digest:pending`` by
   compare-and-set, retried on conflict (another instance appended first).
3. If something is pending and no ``digest:window`` is live (the window has passed), the invocation
   tries to create it (a write that holds only where none is live): of all instances exactly one
   succeeds and becomes the sender; the others leave their entries waiting. The first escalation after
   a quiet spell therefore goes out at once; what arrives during the next ``dingtalk_digest_window_s``
   waits, and goes out with the first invocation after the window (the timer's scan included).
4. The sender renders ONE message (:mod:`.digest_render`) from what it read, sends it through
   :class:`~.dingtalk.DingTalkSink` (one attempt: no retry inside a window), then removes by
   compare-and-set exactly the entries it sent; entries appended meanwhile stay for the next window.

When the message cannot be sent, a ``sink_failed`` line carries the digest (title, text, entries):
* a transient failure (timeout, HTTP 5xx/429, DingTalk busy, "too fast") keeps the entries for the
  next window -- at most one attempt per window for the whole function, never a retry storm; after
  :data:`~.digest_doc.MAX_FAILED_SENDS` failed windows an entry is given up (it is in those lines,
  and every job has its own ``ehpc_rerun.outcome`` line);
* "too fast" / "over limit" also stretches the window to the robot's 10-minute throttle;
* a permanent refusal (bad signature, unknown token, bad body) drops the entries: repeating cannot
  help, and the line says which setting to fix.

If the store cannot be reached (``StateStoreUnavailable``) or stays contended, this invocation's
escalations are written as a ``sink_failed`` line instead, and the invocation carries on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from ehpc_rerun.errors import PermanentSinkError, SinkError, StateStoreUnavailable
from ehpc_rerun.report import InvocationReport
from ehpc_rerun.state.base import ANY_VERSION, Doc, DocWrite, StateStore

from . import digest_doc as docs
from . import digest_render
from .dingtalk import THROTTLE_S, THROTTLED_CODES, DingTalkSink
from .log import emit, utc_now_iso

# Conflicts are expected under a flood (every escalating invocation appends to one document): enough
# jittered attempts that a burst of a few dozen instances settles; the worst wait is about 2.5 s.
CAS_ATTEMPTS = 40


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class _Contended(Exception):
    """The pending document kept changing under us (CAS_ATTEMPTS conflicts in a row)."""


class DigestSink:
    """The DingTalk sink for people: digests escalations across invocations and instances."""

    name = "dingtalk"

    def __init__(
        self,
        robot: DingTalkSink,
        store: Callable[[], StateStore],
        *,
        statuses: Iterable[str],
        window_s: int,
        max_jobs: int,
        link: str | None = None,
        now_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._robot = robot
        self._store = store
        self._statuses = tuple(statuses)
        self._window_ms = window_s * 1000
        self._max_jobs = max_jobs
        self._cap = max_jobs * docs.KEEP_FACTOR
        self._link = link
        self._now_ms = now_ms if now_ms is not None else _wall_clock_ms
        self._sleep = sleep

    def wants(self, report: InvocationReport) -> bool:
        return True  # every invocation may be the one that sends a due digest

    def publish(self, report: InvocationReport) -> None:
        self.deliver(report)

    def deliver(self, report: InvocationReport) -> str:
        """``"sent"`` (a digest went out), ``"queued"`` (escalations wait for the next window),
        ``"skipped"`` (nothing to do) or ``"failed"`` (a ``sink_failed`` line says what and carries it)."""
        now = self._now_ms()
        new = docs.entries_from(report, self._statuses, now)
        try:
            store = self._store()
            return self._deliver(store, report, new, now)
        except (StateStoreUnavailable, _Contended) as exc:
            code = exc.code if isinstance(exc, StateStoreUnavailable) else "DigestContended"
            why = exc.message if isinstance(exc, StateStoreUnavailable) else "the digest kept changing"
            self._failed_line(
                report,
                code,
                f"{why}; this invocation's escalations were not queued for the DingTalk digest",
                attempts=0,
                escalations=[e.model_dump(mode="json", exclude_defaults=True) for e in new],
            )
            return "failed"

    # --- the protocol --------------------------------------------------------------------------

    def _deliver(self, store: StateStore, report: InvocationReport, new: list[docs.Entry], now: int) -> str:
        found = store.read_docs([docs.PENDING_KEY, docs.WINDOW_KEY], now_ms=now)
        if new:
            pending = self._append(store, report, found.get(docs.PENDING_KEY), new, now)
        else:
            doc = found.get(docs.PENDING_KEY)
            if doc is None:
                return "skipped"
            pending = self._parse(report, doc)
            if pending.empty:
                return "skipped"
        if docs.WINDOW_KEY in found:
            return "queued"  # a message went out within the window: these wait for the next one
        claim = DocWrite(
            docs.WINDOW_KEY, docs.window_value(now, report.invocation_id), ttl_ms=self._window_ms
        )
        if not store.write_docs([claim], now_ms=now)[0]:
            return "queued"  # another invocation is this window's sender
        return self._send(store, report, pending, now)

    def _append(
        self, store: StateStore, report: InvocationReport, doc: Doc | None, new: list[docs.Entry], now: int
    ) -> docs.Pending:
        for attempt in range(CAS_ATTEMPTS):
            current = self._parse(report, doc) if doc is not None else docs.Pending()
            merged = docs.merge(current, new, self._cap)
            write = DocWrite(
                docs.PENDING_KEY,
                merged.dumps(),
                ttl_ms=docs.PENDING_TTL_MS,
                if_version=doc.version if doc is not None else None,
            )
            if store.write_docs([write], now_ms=now)[0]:
                return merged
            self._backoff(attempt)
            doc = store.read_docs([docs.PENDING_KEY], now_ms=now).get(docs.PENDING_KEY)
        raise _Contended()

    def _send(self, store: StateStore, report: InvocationReport, pending: docs.Pending, now: int) -> str:
        title = digest_render.title(pending)
        text = digest_render.render(
            pending, max_jobs=self._max_jobs, link=self._link, function_name=report.function_name
        )
        try:
            self._robot.send_markdown(title, text)
        except Exception as exc:  # any failure: one sink_failed line with the digest, never a retry here
            code = exc.code if isinstance(exc, SinkError) else type(exc).__name__
            message = exc.message if isinstance(exc, SinkError) else str(exc)
            keep = not isinstance(exc, PermanentSinkError)
            given_up = self._settle(store, report, pending, keep=keep, now=now)
            if code in THROTTLED_CODES:
                self._stretch_window(store, report, now)
            dropped = pending if not keep else given_up
            self._failed_line(
                report,
                code,
                message,
                attempts=1,
                digest={
                    "title": title,
                    "text": text,
                    "entries": [e.model_dump(mode="json", exclude_defaults=True) for e in pending.entries],
                    "overflow": pending.overflow,
                },
                kept_for_next_window=pending.total - dropped.total,
                given_up=dropped.total,
            )
            return "failed"
        self._settle(store, report, pending, keep=False, now=now)
        return "sent"

    def _settle(
        self, store: StateStore, report: InvocationReport, sent: docs.Pending, *, keep: bool, now: int
    ) -> docs.Pending:
        """Remove (or mark) what was sent, by compare-and-set; returns what was given up."""
        for attempt in range(CAS_ATTEMPTS):
            doc = store.read_docs([docs.PENDING_KEY], now_ms=now).get(docs.PENDING_KEY)
            if doc is None:
                return docs.Pending()
            try:
                current = docs.parse_pending(doc.value)
            except ValueError:
                current = docs.Pending()
            left, given_up = docs.settle(current, sent, keep=keep)
            write = DocWrite(
                docs.PENDING_KEY,
                None if left.empty else left.dumps(),
                ttl_ms=docs.PENDING_TTL_MS,
                if_version=doc.version,
            )
            if store.write_docs([write], now_ms=now)[0]:
                return given_up
            self._backoff(attempt)
        # Not lost: the sent entries stay pending and are listed again next window (at least once).
        emit(
            {
                "type": "ehpc_rerun.error",
                "time": utc_now_iso(),
                "invocation_id": report.invocation_id,
                "error_code": "DigestContended",
                "message": "the DingTalk digest could not be updated after sending; its jobs may be listed "
                "again in the next message",
            }
        )
        return docs.Pending()

    def _stretch_window(self, store: StateStore, report: InvocationReport, now: int) -> None:
        value = docs.window_value(now, report.invocation_id, throttled=True)
        ttl = max(self._window_ms, THROTTLE_S * 1000)
        store.write_docs([DocWrite(docs.WINDOW_KEY, value, ttl_ms=ttl, if_version=ANY_VERSION)], now_ms=now)

    # --- helpers -------------------------------------------------------------------------------

    def _parse(self, report: InvocationReport, doc: Doc) -> docs.Pending:
        try:
            return docs.parse_pending(doc.value)
        except ValueError as exc:  # replaced by the next write; say so, with what it held
            self._failed_line(
                report, "DigestUnreadable", str(exc), attempts=0, unreadable_document=doc.value[:4000]
            )
            return docs.Pending()

    def _backoff(self, attempt: int) -> None:
        # Jitter so that instances that collided do not collide again in lockstep.
        self._sleep(random.uniform(0, 0.004 * 2 ** min(attempt, 5)))

    def _failed_line(self, report: InvocationReport, code: str, message: str, **extra: Any) -> None:
        emit(
            {
                "type": "ehpc_rerun.sink_failed",
                "time": utc_now_iso(),
                "invocation_id": report.invocation_id,
                "sink": self.name,
                "error_code": code,
                "message": message[:500],
                **extra,
            }
        )
