"""Retries for transient failures: exponential backoff with full jitter, within the invocation's time.

FC has no remaining-time call (fc-events.md §1.4), so the deadline is the handler's start time plus
``context.function.timeout`` minus a margin. A retry whose wait would cross the deadline is not made.

``before`` runs before every attempt (the shared rate limiter's token, ratelimit.py): what it raises is
not classified and ends the call at once -- ``QuotaExhausted`` (nothing was sent) or
``StateStoreUnavailable`` (the limiter fails closed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ehpc_rerun.deadline import Deadline

from .errors import EhpcCallError, classify

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt)); never less than the server asked."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        wait = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return wait


@dataclass
class Attempted:
    attempts: int = 0
    errors: list[EhpcCallError] = field(default_factory=list)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    deadline: Deadline,
    log: Attempted,
    before: Callable[[], None] | None = None,
) -> T:
    """Run ``fn``; retry transient failures; raise the last :class:`EhpcCallError` otherwise."""
    while True:
        if before is not None:
            before()  # outside the try: a refused token is not a failed call
        log.attempts += 1
        try:
            return fn()
        except Exception as exc:  # classified below; nothing is swallowed
            error = classify(exc)
            log.errors.append(error)
            if not error.transient or log.attempts >= policy.max_attempts:
                raise error from None
            wait = policy.delay(log.attempts - 1, error.retry_after_s)
            if wait >= deadline.remaining():
                raise error from None
            policy.sleep(wait)
