"""The log sink: one JSON line per job on stdout, which FC ships to the function's Logstore.

Always on, and the record of last resort: undelivered reports from other sinks land here as
``sink_failed`` lines. Every line passes through :func:`redact` so no known secret is ever printed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

from ehpc_rerun.models import printable
from ehpc_rerun.report import InvocationReport

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Values that must never be printed (credentials, shared secrets, webhook tokens)."""
    for value in values:
        if value and len(value) >= 6:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def utc_now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def emit(record: dict[str, Any], stream: TextIO | None = None) -> None:
    """Write one JSON line (thread-safe, redacted, flushed)."""
    line = redact(printable(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)))
    out = stream if stream is not None else sys.stdout
    with _lock:
        out.write(line + "\n")
        out.flush()


class LogSink:
    """Writes ``ehpc_rerun.outcome`` lines (one per job) and one ``ehpc_rerun.summary`` line."""

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def wants(self, report: InvocationReport) -> bool:
        return True

    def publish(self, report: InvocationReport) -> None:
        time_iso = utc_now_iso()
        for outcome in report.outcomes:
            record: dict[str, Any] = {
                "type": "ehpc_rerun.outcome",
                "time": time_iso,
                "invocation_id": report.invocation_id,
            }
            record.update(outcome.model_dump(mode="json", exclude_defaults=False))
            emit(record, self._stream)
        emit(
            {
                "type": "ehpc_rerun.summary",
                "time": time_iso,
                "invocation_id": report.invocation_id,
                "source": report.source,
                "counts": report.counts,
                "most_serious": report.most_serious.value if report.most_serious else None,
                "needs_human": report.needs_human,
                "dry_run": report.dry_run,
                "duration_ms": report.duration_ms,
                "note": report.note,
                "summary": report.summary,
            },
            self._stream,
        )
