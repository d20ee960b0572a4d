"""Documents of the Tablestore state store (see :class:`~ehpc_rerun.state.base.DocWrite`): one row each,
in the store's table under :func:`~ehpc_rerun.state.tablestore_rows.doc_row_key`.

Row layout::

    value       STRING   the document's text
    version     INTEGER  1 for a new document, +1 per write
    expires_ms  INTEGER  logical expiry, compared with the caller's now_ms (an expired row is no document)

Each write is one conditional row write, so it is atomic on its own:

A delete leaves a tombstone (no value, expired, the next version), so that a key's versions never repeat
(base.DocWrite: no ABA). Tombstones, like expired documents, are rows the table's TTL may collect.

* ``if_version=N`` needs no read: UpdateRow with ``EXPECT_EXIST``, ``version == N`` and
  ``expires_ms > now`` -- exactly "the live version is N", checked by Tablestore. A condition failure
  is the answer False (compare-and-set; retrying is the caller's business).
* ``if_version=None`` and ``ANY_VERSION`` depend on what is stored, so those keys are read first (one
  BatchGetRow); then PutRow ``EXPECT_NOT_EXIST`` where there was no row, or UpdateRow with
  ``version == <the version read>`` (an expired row or a tombstone is overwritten so). If that
  condition fails, what we read is stale: the key is read again and decided again (None: False only
  once a live document is seen; ANY: until it is written), a bounded number of rounds.

A key written twice in one call is written in waves (BatchWriteRow may not name a row twice), the
second after the first, as the contract's "each write applies in order" requires.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import tablestore_rows as rows
from .base import ANY_VERSION, Doc, DocWrite, doc_condition_holds
from .sqlite_docs import check as check_doc_writes
from .tablestore_batches import CONDITION_FAILED, BatchIO

VALUE = "value"

Contended = Callable[[str, int], Exception]


@dataclass(frozen=True)
class StoredDoc:
    """A document row as read (live or not)."""

    key: str
    value: str
    version: int
    expires_ms: int

    def live_version(self, now_ms: int) -> int | None:
        return self.version if self.expires_ms > now_ms else None


def parse_doc(key: str, attributes: Sequence[Sequence[Any]] | None) -> StoredDoc | None:
    if not attributes:
        return None
    values = {str(item[0]): item[1] for item in attributes}
    value, version, expires = values.get(VALUE), values.get(rows.VERSION), values.get(rows.EXPIRES_MS)
    if not isinstance(value, str) or not _is_int(version) or not _is_int(expires):
        raise rows.ForeignRow(f"document {key!r}: not a value STRING, version and expires_ms INTEGER")
    assert isinstance(version, int) and isinstance(expires, int)
    return StoredDoc(key, value, version, expires)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _columns(w: DocWrite, version: int, now_ms: int) -> dict[str, str | int]:
    assert w.value is not None
    return {VALUE: w.value, rows.VERSION: version, rows.EXPIRES_MS: now_ms + w.ttl_ms}


def _tombstone(version: int, now_ms: int) -> dict[str, str | int]:
    """What a delete leaves: no document, but its version, so that versions never repeat (no ABA)."""
    return {VALUE: "", rows.VERSION: version, rows.EXPIRES_MS: now_ms}


def plan_blind(w: DocWrite, now_ms: int) -> rows.Write:
    """An ``if_version=N`` write without reading: the row must be live at version N."""
    assert w.if_version is not None and w.if_version != ANY_VERSION
    columns = (
        _tombstone(w.if_version + 1, now_ms) if w.value is None else _columns(w, w.if_version + 1, now_ms)
    )
    return rows.Write(w.key, "update", w.if_version, columns, expect_live_at_ms=now_ms)


def plan_read(w: DocWrite, stored: StoredDoc | None, now_ms: int) -> rows.Write | bool:
    """The write for what is stored, or the answer when nothing is to be written."""
    live = stored.live_version(now_ms) if stored is not None else None
    if not doc_condition_holds(w.if_version, live):
        return False
    if stored is None:
        if w.value is None:
            return True  # deleting what is not there
        return rows.Write(w.key, "put", None, _columns(w, 1, now_ms))
    if w.value is None:
        if live is None:
            return True  # deleting what is not live: nothing to do
        return rows.Write(w.key, "update", stored.version, _tombstone(stored.version + 1, now_ms))
    # the version after the stored one, live or not: versions never repeat
    return rows.Write(w.key, "update", stored.version, _columns(w, stored.version + 1, now_ms))


def landed(write: rows.Write, stored: StoredDoc | None) -> bool:
    """Whether a write whose reply was a transient row error is there after all."""
    if write.kind == "delete":
        return stored is None
    return (
        stored is not None
        and stored.version == write.columns[rows.VERSION]
        and stored.value == write.columns[VALUE]
        and stored.expires_ms == write.columns[rows.EXPIRES_MS]
    )


class DocStore:
    """read_docs / write_docs over a :class:`BatchIO` of document rows."""

    def __init__(self, io: BatchIO[StoredDoc], *, max_rounds: int, unavailable: Contended) -> None:
        self._io, self._max_rounds, self._contended = io, max_rounds, unavailable

    def read(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        found: dict[str, Doc] = {}
        for key, stored in self._io.read(list(dict.fromkeys(keys))).items():
            if stored is not None and stored.live_version(now_ms) is not None:
                found[key] = Doc(key, stored.value, stored.version, stored.expires_ms)
        return found

    def write(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        check_doc_writes(writes)
        results: list[bool] = [False] * len(writes)
        for wave in _waves(writes):
            for index, applied in self._write_wave(wave, now_ms).items():
                results[index] = applied
        return results

    def _write_wave(self, wave: dict[str, tuple[int, DocWrite]], now_ms: int) -> dict[int, bool]:
        """One write per key; returns the answer per index into the caller's writes."""
        answers: dict[int, bool] = {}
        pending = dict(wave)
        needs_row = [key for key, (_, w) in pending.items() if w.if_version in (None, ANY_VERSION)]
        seen: dict[str, StoredDoc | None] = self._io.read(needs_row) if needs_row else {}
        for _ in range(self._max_rounds):
            planned: dict[str, rows.Write] = {}
            for key, (index, w) in list(pending.items()):
                plan = plan_read(w, seen[key], now_ms) if key in seen else plan_blind(w, now_ms)
                if isinstance(plan, bool):
                    answers[index] = plan
                    del pending[key]
                else:
                    planned[key] = plan
            if not planned:
                return answers
            failures = self._io.write_failures(list(planned.values()))
            again: list[str] = []
            for key in planned:
                index, w = pending[key]
                code = failures.get(key)
                if code is None:
                    answers[index] = True
                elif code == CONDITION_FAILED and key not in seen:
                    answers[index] = False  # the live version was not N: that is the answer
                else:
                    again.append(key)  # what we read is stale, or the row write may not have happened
                    continue
                del pending[key]
            if not again:
                return answers
            fresh = self._io.read(again)
            for key in again:
                if failures[key] != CONDITION_FAILED and landed(planned[key], fresh[key]):
                    answers[pending.pop(key)[0]] = True
                else:
                    seen[key] = fresh[key]
        raise self._contended("write_docs", len(pending))


def _waves(writes: Sequence[DocWrite]) -> list[dict[str, tuple[int, DocWrite]]]:
    """The writes split so that no wave names a key twice; the n-th write of a key is in wave n."""
    waves: list[dict[str, tuple[int, DocWrite]]] = []
    for index, w in enumerate(writes):
        wave = next((wave for wave in waves if w.key not in wave), None)
        if wave is None:
            wave = {}
            waves.append(wave)
        wave[w.key] = (index, w)
    return waves
