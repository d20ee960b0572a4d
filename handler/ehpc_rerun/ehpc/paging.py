"""Reading a paged listing (ListJobs, ListNodes) the way the quota wants it: at most ``max_pages`` pages,
a token from the shared rate limiter before every call (retries included), and one retry budget for the
whole listing (``policy.max_attempts - 1`` failures in all), so a listing makes at most
``max_pages + max_attempts - 1`` calls. Listings only read: a lost answer is retried like a transient
failure (:func:`readonly`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from ehpc_rerun.deadline import Deadline

from .errors import EhpcCallError, classify
from .ratelimit import RateLimiter
from .retry import Attempted, RetryPolicy, call_with_retry


class Page(Protocol):
    @property
    def total(self) -> int: ...

    def last(self, page: int) -> bool: ...


P = TypeVar("P", bound=Page)


def readonly(error: EhpcCallError) -> EhpcCallError:
    """A listing only reads: a lost answer is a transient failure, safe to repeat; a 406 is permanent."""
    if error.kind == "unknown_fate":
        return replace(error, kind="transient")
    if error.kind == "not_rerunnable":
        return replace(error, kind="permanent")
    return error


@dataclass(frozen=True)
class Pages(Generic[P]):
    pages: list[P]
    complete: bool  # the last page was read
    calls: int  # calls made, retries included


def read_pages(
    fetch: Callable[[int], P],
    api_name: str,
    max_pages: int,
    *,
    limiter: RateLimiter,
    policy: RetryPolicy,
    deadline: Deadline,
) -> Pages[P]:
    """Pages 1.. of one listing; raises :class:`EhpcCallError` (``attempts`` set) when one cannot be had."""
    got: list[P] = []
    retries_left = policy.max_attempts - 1
    calls = 0

    def take() -> None:
        limiter.take(api_name, deadline)

    for number in range(1, max_pages + 1):
        log = Attempted()

        def one(number: int = number) -> P:
            try:
                return fetch(number)
            except Exception as exc:  # classified; nothing is swallowed
                raise readonly(classify(exc)) from None

        try:
            page = call_with_retry(
                one, replace(policy, max_attempts=1 + retries_left), deadline, log, before=take
            )
        except EhpcCallError as error:
            raise replace(readonly(error), attempts=calls + log.attempts) from None
        finally:
            retries_left -= len(log.errors)
        calls += log.attempts
        got.append(page)
        if page.last(number):
            return Pages(got, True, calls)
    return Pages(got, False, calls)
