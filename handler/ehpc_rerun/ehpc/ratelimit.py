"""E-HPC's API quota, shared by every instance: one token bucket per API, kept in the state store.

E-HPC 2018-04-12 limits calls per account and API: ListJobs, ListNodes, DescribeJob ... 100 per 60 s
(help.aliyun.com/en/e-hpc/e-hpc-1-0/developer-reference/api-ehpc-2018-04-12-quota). Every FC instance
counts against the same account quota, so the count lives in the shared store: the document
``ratelimit:<Api>`` holds ``{"t": tokens, "at": ms}``. Capacity is the quota per 60 s
(``EHPC_RERUN_QUOTA_<API>_PER_60S``), refilled continuously at capacity / 60 s; a bucket starts full.

:meth:`RateLimiter.take` reads the bucket, refills it to now, and takes one token by compare-and-set on
the version it read (another instance's write in between: read again). An empty bucket is waited for
while the invocation has time; otherwise :func:`~.errors.quota_exhausted` (transient: the call is not
sent, the job is left for redelivery). The store unreachable raises ``StateStoreUnavailable``: no token,
no call (fail closed).

Hand-written rather than a library: the rate-limit libraries found (e.g. ``limits``, ``pyrate-limiter``)
keep their counters in their own Redis/memory backends, not behind this project's StateStore protocol
(SQLite, Redis and Tablestore alike), and the bucket is ~40 lines of arithmetic.

The bucket uses the wall clock (``time.time``): E-HPC's window is real time whatever clock the invocation
decides dedupe with. Instances whose clocks disagree refill a little early or late; a write older than
the bucket's (negative elapsed time) refills nothing.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.settings import Settings
from ehpc_rerun.state.base import Doc, DocWrite, StateStore

from .errors import quota_exhausted

WINDOW_MS = 60_000
DOC_TTL_MS = 2 * WINDOW_MS  # an untouched bucket is full after one window: an expired one counts as full
KEY_PREFIX = "ratelimit:"


def quotas_from(settings: Settings) -> dict[str, int]:
    return {
        "ListNodes": settings.quota_listnodes_per_60s,  # the node check (nodes/listing.py)
        "ListJobs": settings.quota_listjobs_per_60s,
        "RerunJobs": settings.quota_rerunjobs_per_60s,
    }


def _wall_ms() -> float:
    return time.time() * 1000


@dataclass
class RateLimiter:
    """Token buckets per API in ``store()``; thread-safe (all state is in the store)."""

    store: Callable[[], StateStore]
    quotas: dict[str, int]
    clock_ms: Callable[[], float] = _wall_ms
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    taken: dict[str, int] = field(default_factory=dict)  # tokens this limiter took, per API (reports)
    waited_s: float = 0.0  # time spent waiting for tokens
    _credit: dict[str, int] = field(default_factory=dict)  # prefetched tokens not spent yet
    _credit_lock: threading.Lock = field(default_factory=threading.Lock)

    def prefetch(self, api: str, wanted: int) -> int:
        """Take up to ``wanted`` tokens in one compare-and-set, without waiting, for the calls about to
        go out in parallel (one store round trip instead of one per call); :meth:`take` spends them
        first. Returns how many were taken. A store failure takes none: each :meth:`take` then meets
        it and reports it for its own call."""
        if wanted <= 1:
            return 0
        quota = self.quotas[api]
        key = KEY_PREFIX + api
        try:
            store = self.store()
            with _turn(api):
                now = self.clock_ms()
                doc = store.read_docs([key], now_ms=int(now)).get(key)
                tokens = _refilled(doc, now, quota, quota / WINDOW_MS)
                got = min(wanted, int(tokens))
                if got <= 0:
                    return 0
                left = {"t": round(tokens - got, 9), "at": round(now, 3)}
                state = json.dumps(left, separators=(",", ":"))
                write = DocWrite(key, state, ttl_ms=DOC_TTL_MS, if_version=doc.version if doc else None)
                if not store.write_docs([write], now_ms=int(now))[0]:
                    return 0  # another instance was faster: the calls take their tokens one by one
        except StateStoreUnavailable:
            return 0
        with self._credit_lock:
            self._credit[api] = self._credit.get(api, 0) + got
        self.taken[api] = self.taken.get(api, 0) + got
        return got

    def take(self, api: str, deadline: Deadline) -> None:
        """One token of ``api``'s bucket, waiting for it while ``deadline`` allows."""
        with self._credit_lock:
            if self._credit.get(api, 0) > 0:
                self._credit[api] -= 1
                return
        quota = self.quotas[api]
        rate = quota / WINDOW_MS  # tokens per ms
        key = KEY_PREFIX + api
        store = self.store()
        while True:
            # The threads of this instance (clusters called in parallel) take turns: they would only
            # collide on the bucket's compare-and-set; other instances still race us there.
            with _turn(api):
                now = self.clock_ms()
                doc = store.read_docs([key], now_ms=int(now)).get(key)
                tokens = _refilled(doc, now, quota, rate)
                if tokens >= 1.0:
                    state = json.dumps(
                        {"t": round(tokens - 1.0, 9), "at": round(now, 3)}, separators=(",", ":")
                    )
                    write = DocWrite(key, state, ttl_ms=DOC_TTL_MS, if_version=doc.version if doc else None)
                    if store.write_docs([write], now_ms=int(now))[0]:
                        self.taken[api] = self.taken.get(api, 0) + 1
                        return
            if tokens >= 1.0:
                wait_s = self.rng.uniform(0.001, 0.02)  # another instance took one first: read again
            else:
                wait_s = (1.0 - tokens) / rate / 1000 + self.rng.uniform(0.0, 0.01)
            if wait_s >= deadline.remaining():
                raise quota_exhausted(api, wait_s, quota)
            self.sleep(wait_s)
            self.waited_s += wait_s


_TURNS: dict[str, threading.Lock] = {}
_TURNS_LOCK = threading.Lock()


def _turn(api: str) -> threading.Lock:
    with _TURNS_LOCK:
        return _TURNS.setdefault(api, threading.Lock())


def _refilled(doc: Doc | None, now: float, quota: int, rate: float) -> float:
    """The bucket's tokens at ``now``: full when there is no live document (or it is unreadable)."""
    if doc is None:
        return float(quota)
    try:
        state = json.loads(doc.value)
        tokens, at = float(state["t"]), float(state["at"])
    except (ValueError, KeyError, TypeError):
        return float(quota)  # rewritten by the compare-and-set below, on this very version
    return min(float(quota), tokens + max(0.0, now - at) * rate)
