"""Publish a report to every sink: bounded retries, isolation, and the ``sink_failed`` fallback.

A sink failure never blocks a rerun (sinks run after the calls), never stops the other sinks and
never loses the outcome: after the last attempt the undelivered report is written to stdout as a
``sink_failed`` line.

Bounds: every wanted sink gets its first attempt; a retry (after an exponential backoff) only
starts while the shared ``deadline_s`` leaves time for it, and never after a
:class:`~ehpc_rerun.sinks._http.PermanentSinkError` (bad signature, unknown topic, ...). Each attempt
is itself bounded by the sink's own socket timeout, so the total is at most
``deadline_s + number of sinks x one attempt``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ehpc_rerun.errors import PermanentSinkError, SinkError
from ehpc_rerun.report import InvocationReport

from .base import DeliversItself, Sink
from .log import emit, utc_now_iso


def dispatch(
    report: InvocationReport,
    sinks: Sequence[Sink],
    *,
    retries: int = 2,
    backoff_s: float = 0.2,
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Publish to each sink in turn; return ``{sink name: "sent" | "skipped" | "failed"}`` (a sink that
    delivers itself, like the DingTalk digest, may also answer ``"queued"``).

    ``deadline_s`` bounds the time spent on retries across all sinks (``None``: no bound beyond
    ``retries``).
    """
    stop_retrying_at = clock() + deadline_s if deadline_s is not None else None
    results: dict[str, str] = {}
    for sink in sinks:
        if isinstance(sink, DeliversItself):
            results[sink.name] = _deliver_once(sink, report)
            continue
        try:
            wanted = sink.wants(report)
        except Exception:  # a broken filter must not lose the report
            wanted = True
        if not wanted:
            results[sink.name] = "skipped"
            continue
        last_error: Exception | None = None
        attempts = 0
        for attempt in range(retries + 1):
            if attempt:
                delay = backoff_s * (2 ** (attempt - 1))
                if stop_retrying_at is not None and clock() + delay >= stop_retrying_at:
                    break
                sleep(delay)
            attempts += 1
            try:
                sink.publish(report)
                last_error = None
                break
            except Exception as exc:  # any failure of one sink stays with that sink
                last_error = exc
                if isinstance(exc, PermanentSinkError):
                    break
        if last_error is None:
            results[sink.name] = "sent"
            continue
        results[sink.name] = "failed"
        _failed_line(report, sink.name, attempts, last_error)
    return results


def _failed_line(report: InvocationReport, sink: str, attempts: int, error: Exception) -> None:
    code = error.code if isinstance(error, SinkError) else type(error).__name__
    message = error.message if isinstance(error, SinkError) else str(error)
    emit(
        {
            "type": "ehpc_rerun.sink_failed",
            "time": utc_now_iso(),
            "invocation_id": report.invocation_id,
            "sink": sink,
            "attempts": attempts,
            "error_code": code,
            "message": message[:500],
            "report": report.model_dump(mode="json"),
        }
    )


def _deliver_once(sink: DeliversItself, report: InvocationReport) -> str:
    try:
        return sink.deliver(report)
    except Exception as exc:  # a bug in the sink: it stays with the sink, and the report is not lost
        _failed_line(report, sink.name, 1, exc)
        return "failed"
