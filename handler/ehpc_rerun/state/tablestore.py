"""A :class:`~ehpc_rerun.state.base.StateStore` in an Alibaba Cloud Tablestore (OTS) table.

Shared by every FC instance (unlike SQLite in each instance's own /tmp). One row per key (layout in
:mod:`~ehpc_rerun.state.tablestore_rows`); every operation reads the rows with BatchGetRow, decides in
code, and writes with BatchWriteRow, each row write conditional, so it is atomic per key:

* a key with no row: PutRow with ``EXPECT_NOT_EXIST``;
* a row we read: UpdateRow / DeleteRow with ``EXPECT_EXIST`` and ``version == <the version read>``
  (release adds ``owner == us AND status == in_progress``): optimistic locking.

A row whose condition fails was changed by another instance since we read it: it is read again and
decided again, a bounded number of rounds. Documents (read_docs / write_docs) are rows of the same table
under keys of their own (:mod:`~ehpc_rerun.state.tablestore_docs`); mark_sent is one more planned write.
Two instances claiming one key: both read "no row", both PutRow with EXPECT_NOT_EXIST, Tablestore
applies exactly one; the other re-reads and sees the winner.

Expiry is logical (``expires_ms`` against the caller's ``now_ms``). Tablestore's own TTL is at least one
day and deletes asynchronously, so it can only collect garbage (set it on the table, longer than the
budget window). The store never creates its table: the deploy template does.

Sources:
  conditional update and optimistic locking - https://alibabacloud.com/help/en/tablestore/conditional-update-by-using-cli-or-sdk
  RowExistenceExpectation - https://alibabacloud.com/help/en/tablestore/developer-reference/rowexistenceexpectation
  pass_if_missing defaults to True (we set False) - https://www.alibabacloud.com/help/en/tablestore/developer-reference/filter-in-python
  BatchGetRow: at most 100 rows - https://www.alibabacloud.com/help/en/tablestore/developer-reference/batch-get-row-in-python
  BatchWriteRow: at most 200 rows and 4 MB, no key twice, per-row results - https://www.alibabacloud.com/help/zh/tablestore/table-store-service/developer-reference/batchwriterow
  TTL >= 1 day, asynchronous - https://alibabacloud.com/help/en/tablestore/data-versions-and-ttl
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import StateStoreUnavailable

from . import tablestore_docs as docs
from . import tablestore_rows as rows
from .base import ClaimResult, Doc, DocWrite, StateRecord
from .tablestore_batches import BatchIO, claim_row_key, doc_row_key
from .tablestore_sdk import Timeouts, close_client, explain, failure_types, import_sdk, make_client

# Rounds of read-decide-write for rows another instance keeps changing under us. Claim races settle
# in two (the loser re-reads the winner's lease); only a storm of completions on one key needs more.
MAX_ROUNDS = 8

Decide = Callable[[str, "rows.StoredRow | None"], "rows.Write | None"]


class TablestoreStateStore:
    """Dedupe leases and rerun history in ``table`` of ``instance`` at ``endpoint`` (http[s]://host)."""

    def __init__(
        self,
        endpoint: str,
        instance: str,
        table: str,
        *,
        credentials: Callable[[], Credentials],
        timeouts: Timeouts | None = None,
        max_rounds: int = MAX_ROUNDS,
    ) -> None:
        self._sdk = import_sdk()
        self._failures = failure_types(self._sdk)
        self._endpoint, self._instance, self._table = endpoint, instance, table
        self._credentials = credentials
        self._timeouts = timeouts or Timeouts()
        self._max_rounds = max_rounds
        self._lock = threading.Lock()
        self._client: Any = None
        self._ident: tuple[str, str, str | None] | None = None
        self._secrets: tuple[str, ...] = ()
        self._closed = False
        self._io = BatchIO(
            self._sdk, table, self._call, self._unavailable, parse=rows.parse_row, row_key=claim_row_key
        )
        self._docs = docs.DocStore(
            BatchIO(
                self._sdk,
                table,
                self._call,
                self._unavailable,
                parse=docs.parse_doc,
                row_key=doc_row_key,
            ),
            max_rounds=max_rounds,
            unavailable=self._contended,
        )

    def __repr__(self) -> str:
        return f"TablestoreStateStore({self._endpoint!r}, {self._instance!r}, {self._table!r})"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def instance(self) -> str:
        return self._instance

    @property
    def table(self) -> str:
        return self._table

    @property
    def sdk_version(self) -> str:
        return str(getattr(self._sdk, "__version__", "unknown"))

    # --- the contract ---------------------------------------------------------------------------

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
        _check_non_negative(lease_ms=lease_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return []
        cutoff = now_ms - budget_window_ms

        def decide(key: str, row: rows.StoredRow | None) -> rows.Write | None:
            if row is not None and row.live_record(now_ms) is not None:
                return None
            return rows.plan_claim(
                key, row, owner=owner, detail=detail, now_ms=now_ms, lease_ms=lease_ms, cutoff_ms=cutoff
            )

        seen, applied = self._converge(keys, decide, "claim")
        results: dict[str, ClaimResult] = {}
        for key, row in seen.items():
            count = len(rows.in_window(row.history, cutoff)) if row is not None else 0
            if key in applied:
                # ``row`` is what the applied write replaced: a lapsed lease of another invocation?
                lapsed = row is not None and row.expired_lease_of_another(owner, now_ms)
                results[key] = ClaimResult(key, True, None, count, row.record() if lapsed and row else None)
            else:
                record = row.live_record(now_ms) if row is not None else None
                results[key] = ClaimResult(key, False, record, count)
        out: list[ClaimResult] = []
        for index, key in enumerate(keys):
            result = results[key]
            if result.acquired and key in keys[:index]:
                # The same key again in one batch: blocked by the lease its first occurrence took.
                lease = StateRecord(key, "in_progress", owner, detail, now_ms, now_ms + lease_ms)
                result = ClaimResult(key, False, lease, result.reruns_in_window)
            out.append(result)
        return out

    def complete(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        dedupe_window_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> None:
        _check_non_negative(dedupe_window_ms=dedupe_window_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return

        def decide(key: str, row: rows.StoredRow | None) -> rows.Write | None:
            return rows.plan_complete(
                key,
                row,
                owner=owner,
                now_ms=now_ms,
                dedupe_ms=dedupe_window_ms,
                cutoff_ms=now_ms - budget_window_ms,
            )

        self._converge(keys, decide, "complete")

    def release(self, keys: Sequence[str], *, owner: str) -> None:
        if not keys:
            return
        self._converge(keys, lambda key, row: rows.plan_release(key, row, owner=owner), "release")

    def mark_sent(self, keys: Sequence[str], *, owner: str, now_ms: int) -> None:
        if not keys:
            return
        self._converge(
            keys, lambda key, row: rows.plan_mark_sent(key, row, owner=owner, now_ms=now_ms), "mark_sent"
        )

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        return self._docs.read(keys, now_ms=now_ms)

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        return self._docs.write(writes, now_ms=now_ms)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client, self._ident = self._client, None, None
        if client is not None:
            close_client(client)

    # --- read, decide, write until every key is settled ------------------------------------------

    def _converge(
        self, keys: Sequence[str], decide: Decide, what: str
    ) -> tuple[dict[str, rows.StoredRow | None], set[str]]:
        """Returns the row each final decision was made on, and the keys whose write was applied."""
        pending = list(dict.fromkeys(keys))
        seen = self._io.read(pending)
        applied: set[str] = set()
        for round_no in range(1, self._max_rounds + 1):
            writes = [w for w in (decide(key, seen[key]) for key in pending) if w is not None]
            if not writes:
                return seen, applied
            retry = self._io.write(writes)
            applied.update(w.key for w in writes if w.key not in retry)
            if not retry:
                return seen, applied
            if round_no == self._max_rounds:
                break
            # Another instance changed these rows since we read them: read them again, decide again.
            time.sleep(random.uniform(0, 0.004 * round_no))
            fresh = self._io.read(sorted(retry))
            planned = {w.key: w for w in writes}
            for key in retry:
                if rows.landed(planned[key], fresh[key]):
                    applied.add(key)  # a row-level timeout whose write did happen after all
                else:
                    seen[key] = fresh[key]
            pending = [key for key in pending if key in retry and key not in applied]
        raise self._contended(what, len(retry))

    def _contended(self, what: str, count: int) -> StateStoreUnavailable:
        return StateStoreUnavailable(
            f"{what} on the Tablestore table {self._table!r} of instance {self._instance!r}: "
            f"{count} key(s) still changed by other writers after {self._max_rounds} round(s) "
            "of conditional writes; retry later (is something else writing to this table?)"
        )

    # --- the client ---------------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        client = self._current_client()
        try:
            return getattr(client, method)(request)
        except self._failures as exc:
            raise self._unavailable(exc) from None

    def _current_client(self) -> Any:
        creds = self._credentials()  # FC refreshes the role's STS credentials: read them every time
        ident = (creds.access_key_id, creds.access_key_secret, creds.security_token)
        with self._lock:
            if self._closed:
                raise StateStoreUnavailable(f"the Tablestore state store {self._table!r} is closed")
            if self._client is None or ident != self._ident:
                self._secrets = creds.secrets()
                try:
                    client = make_client(
                        self._sdk,
                        endpoint=self._endpoint,
                        instance=self._instance,
                        access_key_id=creds.access_key_id,
                        access_key_secret=creds.access_key_secret,
                        security_token=creds.security_token,
                        timeouts=self._timeouts,
                    )
                except self._failures as exc:
                    raise self._unavailable(exc) from None
                # The old client may still be serving another thread's request: let it be collected.
                self._client, self._ident = client, ident
            return self._client

    def _unavailable(self, exc: BaseException) -> StateStoreUnavailable:
        return StateStoreUnavailable(
            explain(
                exc,
                endpoint=self._endpoint,
                instance=self._instance,
                table=self._table,
                secrets=self._secrets,
            )
        )


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
