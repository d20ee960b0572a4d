"""The simulator's call log (every request, accepted or rejected) and its used signature nonces."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .faults import FaultKind

NONCE_TTL_SECONDS = 15 * 60 + 60


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP request the simulator received (accepted or rejected).

    ``status`` 0 means no answer was sent (dropped connection); ``response`` is then the answer
    the client never got. ``query`` is form-decoded, ``raw_query`` is the wire form.
    """

    action: str
    version: str
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    code: str | None
    response: dict[str, Any]
    signature_valid: bool
    access_key_id: str | None
    security_token: str | None
    cluster_id: str | None
    job_ids: list[str]
    async_: bool | None
    applied: bool
    started_at: float
    thread: str
    fault: FaultKind | None = None
    request_id: str | None = None
    raw_query: str = ""


class CallLog:
    """Mixed into :class:`~.state.SimState`, whose lock guards it."""

    lock: threading.RLock
    _calls: list[RecordedCall]
    _nonces: dict[str, float]

    def _init_call_log(self) -> None:
        self._calls = []
        self._nonces = {}

    # ---- nonces ---------------------------------------------------------------------
    def use_nonce(self, nonce: str, now: float) -> bool:
        """Remember ``nonce``; ``False`` if it was already used within its lifetime."""
        with self.lock:
            if len(self._nonces) > 10_000:
                self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            expiry = self._nonces.get(nonce)
            if expiry is not None and expiry > now:
                return False
            self._nonces[nonce] = now + NONCE_TTL_SECONDS
            return True

    # ---- recorded calls -------------------------------------------------------------
    def _record_call(self, call: RecordedCall) -> None:
        with self.lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call received so far, in the order the answers were decided."""
        with self.lock:
            return list(self._calls)

    def calls_for(self, action: str) -> list[RecordedCall]:
        with self.lock:
            return [c for c in self._calls if c.action == action]

    def rerun_job_ids(self, cluster_id: str | None = None) -> list[str]:
        """Every job id of every RerunJobs call that was applied, in order."""
        with self.lock:
            return [
                job_id
                for c in self._calls
                if c.action == "RerunJobs"
                and c.applied
                and (cluster_id is None or c.cluster_id == cluster_id)
                for job_id in c.job_ids
            ]

    def reset_calls(self) -> None:
        with self.lock:
            self._calls.clear()
