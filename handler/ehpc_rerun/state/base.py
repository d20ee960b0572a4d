"""The state-store contract: four batch operations, atomic where a decision depends on them.

Modelled on Powertools' idempotency persistence layer (in-progress record with an expiry, then a
completed record kept for a window), reduced to what rerun dedupe and budgets need:

* ``claim``    -- atomically take an in-progress lease on each key that has no live record, and
  report, for every key, the live record that blocks it (if any) and how many reruns the key had
  within the budget window. Two instances claiming the same key at once: exactly one acquires.
* ``complete`` -- the call happened: turn our leases into "done" records that live for the dedupe
  window, and append one rerun to each key's budget history.
* ``release``  -- the call did not happen (transient failure, over budget, pre-check said no):
  drop our leases so a redelivery may try again. Only leases owned by ``owner`` are dropped.
* ``mark_sent`` -- RerunJobs is about to be sent for our leases: stamp them with ``sent_ms``, so that
  whoever finds such a lease expired knows the call may have happened (its fate is unknown) rather
  than taking the key over blindly. A claim that replaces an expired in-progress lease reports it in
  :attr:`ClaimResult.taken_over` (with its ``sent_ms``); the caller decides (``policy/takeover.py``).
* ``read_docs`` / ``write_docs`` -- small JSON documents with a version and a logical expiry, written
  with compare-and-set (:class:`DocWrite`). Everything else the instances share is built on them, once,
  whatever the store: event memory, listing snapshots, the API rate limiter, the escalation digest.
* ``close``.

Time is passed in (``now_ms``) so tests can move the clock; records expire *logically* by that clock
and are also given a physical TTL for garbage collection. Implementations raise
:class:`~ehpc_rerun.errors.StateStoreUnavailable` when the store cannot be reached: callers fail closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

RecordStatus = Literal["in_progress", "done"]

ANY_VERSION = -1  # DocWrite.if_version: write whatever is there
# A lease stamped "sent" is kept (physically) this long after its stamp, expired or not, so that a delivery
# that comes back days later still finds it: FC keeps an asynchronous event for up to 7 days
# (maxAsyncEventAgeInSeconds <= 604800), EventBridge retries for a day, MNS until the message is deleted.
SENT_LEASE_RETENTION_MS = 31 * 86_400_000
# How long a deleted or expired document's version is kept (at least), so that it is never reused while a
# compare-and-set that read it can still be in flight (those take milliseconds).
DOC_TOMBSTONE_MS = 600_000


@dataclass(frozen=True)
class StateRecord:
    """A live record for one key."""

    key: str
    status: RecordStatus
    owner: str  # the invocation that holds or held it
    detail: str  # free text, e.g. the event id that caused the rerun
    at_ms: int  # when it was claimed / completed
    expires_ms: int  # logical expiry
    sent_ms: int | None = None  # in_progress only: when RerunJobs was about to be sent (mark_sent)


@dataclass(frozen=True)
class ClaimResult:
    key: str
    acquired: bool
    existing: StateRecord | None  # the live record that blocked the claim (None if acquired)
    reruns_in_window: int  # completed reruns of this key within the budget window
    # acquired only: the expired in-progress lease of another invocation this claim replaced, if any
    taken_over: StateRecord | None = None


@dataclass(frozen=True)
class Doc:
    """A live document: ``value`` is text (JSON by convention), ``version`` counts its writes from 1."""

    key: str
    value: str
    version: int
    expires_ms: int


@dataclass(frozen=True)
class DocWrite:
    """One compare-and-set write of a document.

    ``if_version``: ``None`` -- only if no live document exists (an expired one counts as absent);
    ``N`` -- only if the live document's version is ``N``; :data:`ANY_VERSION` -- unconditionally.
    ``value=None`` deletes (under the same condition). A written document lives ``ttl_ms`` (> 0) from
    ``now_ms`` and gets the version after the last one the key had, live or not: a deleted or expired
    document leaves its version behind (for :data:`DOC_TOMBSTONE_MS` at least), so versions never
    repeat and a compare-and-set made on what was read before a delete and a re-creation cannot
    apply to the new document (the ABA problem). 1 for a key that never had one.
    """

    key: str
    value: str | None
    ttl_ms: int = 0
    if_version: int | None = None


def doc_condition_holds(if_version: int | None, live_version: int | None) -> bool:
    """Whether a :class:`DocWrite` with ``if_version`` applies to a key whose live version is given."""
    if if_version == ANY_VERSION:
        return True
    return live_version == if_version


class StateStore(Protocol):
    """Where dedupe leases and rerun budgets live; shared by every instance of the function."""

    def claim(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        detail: str,
        lease_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> list[ClaimResult]:
        """Atomically claim each key that has no live record; one result per key, in order."""
        ...

    def complete(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        dedupe_window_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> None:
        """Mark our leases done for ``dedupe_window_ms`` and record one rerun per key."""
        ...

    def release(self, keys: Sequence[str], *, owner: str) -> None:
        """Drop our in-progress leases on ``keys`` (others' records are left alone)."""
        ...

    def mark_sent(self, keys: Sequence[str], *, owner: str, now_ms: int) -> None:
        """Stamp our live in-progress leases on ``keys`` with ``sent_ms = now_ms`` (others' are left).

        A stamped lease is retained for :data:`SENT_LEASE_RETENTION_MS` after the stamp even once it has
        expired, so that whichever claim comes next reports it in ``taken_over``."""
        ...

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        """The live documents among ``keys`` (absent and expired ones are left out)."""
        ...

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        """Apply each compare-and-set write atomically on its own; ``True`` where its condition held."""
        ...

    def close(self) -> None: ...
