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


@dataclass(frozen=True)
class StateRecord:
    """A live record for one key."""

    key: str
    status: RecordStatus
    owner: str  # the invocation that holds or held it
    detail: str  # free text, e.g. the event id that caused the rerun
    at_ms: int  # when it was claimed / completed
    expires_ms: int  # logical expiry


@dataclass(frozen=True)
class ClaimResult:
    key: str
    acquired: bool
    existing: StateRecord | None  # the live record that blocked the claim (None if acquired)
    reruns_in_window: int  # completed reruns of this key within the budget window


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

    def close(self) -> None: ...
