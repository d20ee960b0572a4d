"""Every E-HPC failure is classified here, once: transient, permanent, not rerunnable, or fate unknown.

* **transient** -- ``Throttling``, ``Throttling.User``, ``Throttling.Api``, ``ServiceUnavailable``,
  ``InternalError``, ``UnknownError``, ``ConflictOpt``, any other 5xx, and connection refused or connect
  timeout (the request was never sent): retried with backoff and full jitter, honouring x-acs-retry-after.
* **not_rerunnable** -- 406 ``AgentError.Job.RerunFailure``: the call is split to isolate the job.
* **permanent** -- ``InvalidParams``, ``ClusterNotFound``, ``InvalidClusterStatus``, signature, access-key
  and token errors, every other 4xx: reported with the code, never retried.
* **unknown_fate** -- read timeout, connection dropped or reset after sending, an unparseable (e.g. HTML)
  answer: confirmed with ListJobs, never repeated blindly.

``QuotaExhausted`` is ours, not E-HPC's: the shared token bucket of an API (ratelimit.py) stayed empty
longer than the invocation had time to wait, so the call was never sent. It is transient and never retried
within the invocation: the job is left for redelivery.

RerunJobs is not idempotent: only failures known to have happened *before* E-HPC got the request, or
answered by E-HPC with an error, may be retried blindly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureKind = Literal["transient", "permanent", "not_rerunnable", "unknown_fate"]

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
        "ConflictOpt",
    }
)
NOT_RERUNNABLE_CODES = frozenset({"AgentError.Job.RerunFailure"})

_NOT_SENT_MARKERS = (
    "NewConnectionError",
    "Connection refused",
    "ConnectTimeout",
    "Failed to establish",
    "Name or service not known",
    "nodename nor servname",
    "Max retries exceeded with url",
)
_UNKNOWN_MARKERS = (
    "ReadTimeout",
    "Read timed out",
    "RemoteDisconnected",
    "Connection aborted",
    "ConnectionResetError",
    "Connection reset",
    "IncompleteRead",
    "BrokenPipe",
)


@dataclass(eq=False)
class EhpcCallError(Exception):
    """A failed call, classified. ``message`` is E-HPC's own text (never credentials)."""

    kind: FailureKind
    code: str
    message: str
    status: int | None = None
    request_id: str | None = None
    retry_after_s: float | None = None
    attempts: int = 0  # set by callers that made several calls for one result (e.g. a paged listing)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def transient(self) -> bool:
        return self.kind == "transient"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 12:
        item = todo.pop()
        if item is None or item in seen:
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "inner_exception", None)])
    return seen


def classify(exc: BaseException) -> EhpcCallError:
    """Map whatever the SDK raised to an :class:`EhpcCallError`."""
    if isinstance(exc, EhpcCallError):
        return exc
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
    if isinstance(code, str) and code and isinstance(status, int):
        data = getattr(exc, "data", None)
        text = (data.get("Message") if isinstance(data, dict) else None) or str(getattr(exc, "message", ""))
        request_id = getattr(exc, "request_id", None) or (
            data.get("RequestId") if isinstance(data, dict) else None
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None or code in TRANSIENT_CODES or status >= 500:
            kind: FailureKind = "transient"
        elif code in NOT_RERUNNABLE_CODES or status == 406:
            kind = "not_rerunnable"
        else:
            kind = "permanent"
        return EhpcCallError(
            kind,
            code,
            str(text)[:500],
            status,
            str(request_id) if request_id else None,
            float(retry_after) if isinstance(retry_after, (int, float)) and retry_after > 0 else None,
        )
    text = " | ".join(f"{type(e).__name__}: {e}" for e in _chain(exc))
    if any(marker in text for marker in _UNKNOWN_MARKERS):
        return EhpcCallError(
            "unknown_fate",
            "ResponseLost",
            "the request may have reached E-HPC but no answer came back (timeout or dropped connection)",
        )
    if any(marker in text for marker in _NOT_SENT_MARKERS):
        return EhpcCallError("transient", "ConnectionFailed", "could not connect to the E-HPC endpoint")
    if "parse" in text.lower() and "json" in text.lower():
        return EhpcCallError("unknown_fate", "InvalidResponse", "E-HPC answered with a body that is not JSON")
    return EhpcCallError("unknown_fate", "CallFailed", f"{type(exc).__name__} while calling E-HPC")


QUOTA_EXHAUSTED = "QuotaExhausted"


def quota_exhausted(api: str, wait_s: float, quota: int) -> EhpcCallError:
    """The call was not sent: ``api``'s shared quota needs ``wait_s`` more than the invocation has."""
    return EhpcCallError(
        "transient",
        QUOTA_EXHAUSTED,
        f"E-HPC's {api} quota ({quota} calls per 60 s for the account, shared by every instance) is used "
        f"up and the next call would have to wait {wait_s:.1f} s, more than this invocation has left; "
        "the call was not sent and the job is left for the event's redelivery (HTTP callers: send it again)",
    )
