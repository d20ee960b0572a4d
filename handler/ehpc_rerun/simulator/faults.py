"""The simulator's fault plan: queued failures, drops and hangs per action, and periodic throttling.

:class:`FaultPlan` is a base of :class:`~ehpc_rerun.simulator.state.SimState` and shares its
lock; the HTTP side consumes one decision per call through :meth:`FaultPlan.next_fault`.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Literal

FaultKind = Literal["fail", "drop", "hang", "throttle"]


@dataclass
class Fault:
    """One planned fault for one action. ``remaining`` counts down as calls consume it."""

    kind: FaultKind
    action: str
    remaining: int = 1
    code: str | None = None
    status: int = 0
    retry_after: int | None = None
    message: str | None = None
    seconds: float = 0.0
    after_apply: bool = False


@dataclass
class _Throttle:
    every: int
    code: str
    status: int
    retry_after: int | None
    count: int = 0


class FaultPlan:
    """Planned faults per action; guarded by ``lock``, which the subclass creates."""

    lock: threading.RLock

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._throttles: dict[str, _Throttle] = {}
        self._quotas: dict[str, tuple[int, float, deque[float]]] = {}

    def _add_fault(self, fault: Fault) -> None:
        with self.lock:
            self._faults.setdefault(fault.action, deque()).append(fault)

    def fail_next(
        self,
        action: str,
        code: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``action`` answer this error (``retry_after`` -> x-acs-retry-after)."""
        self._add_fault(Fault("fail", action, times, code, status, retry_after, message))

    def throttle_every(
        self,
        action: str,
        n: int,
        *,
        code: str = "Throttling.User",
        status: int = 400,
        retry_after: int | None = None,
    ) -> None:
        """Calls n, 2n, 3n, ... of ``action`` (counted from now) answer throttling; n=0 disables."""
        with self.lock:
            if n <= 0:
                self._throttles.pop(action, None)
            else:
                self._throttles[action] = _Throttle(n, code, status, retry_after)

    def drop_connection_next(self, action: str, *, times: int = 1, after_apply: bool = False) -> None:
        """Close the socket without an answer; ``after_apply`` processes the call first."""
        self._add_fault(Fault("drop", action, times, after_apply=after_apply))

    def hang_next(self, action: str, seconds: float, *, times: int = 1, after_apply: bool = True) -> None:
        """Sleep ``seconds`` before answering; ``after_apply=False`` sleeps *before* processing."""
        self._add_fault(Fault("hang", action, times, seconds=seconds, after_apply=after_apply))

    def set_quota(self, action: str, calls: int, per_s: float = 60.0) -> None:
        """E-HPC's own flow control: more than ``calls`` calls of ``action`` within any ``per_s`` seconds
        answer 400 ``Throttling.User`` (not applied); ``calls=0`` removes the quota."""
        with self.lock:
            if calls <= 0:
                self._quotas.pop(action, None)
            else:
                self._quotas[action] = (calls, per_s, deque())

    def over_quota(self, action: str, now: float) -> bool:
        """Count this call against ``action``'s quota (sliding window); whether it is over it."""
        with self.lock:
            quota = self._quotas.get(action)
            if quota is None:
                return False
            calls, per_s, stamps = quota
            while stamps and stamps[0] <= now - per_s:
                stamps.popleft()
            if len(stamps) >= calls:
                return True
            stamps.append(now)
            return False

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._throttles.clear()

    def next_fault(self, action: str) -> Fault | None:
        """Consume the fault for this call: queued faults first (in order), then throttling.

        Called once per authenticated call of a known action; every such call advances the
        ``throttle_every`` counter, even one answered by a queued fault.
        """
        with self.lock:
            throttle = self._throttles.get(action)
            if throttle is not None:
                throttle.count += 1
            queue = self._faults.get(action)
            if queue:
                head = queue[0]
                head.remaining -= 1
                if head.remaining <= 0:
                    queue.popleft()
                return replace(head, remaining=1)
            if throttle is not None and throttle.count % throttle.every == 0:
                return Fault(
                    "throttle",
                    action,
                    code=throttle.code,
                    status=throttle.status,
                    retry_after=throttle.retry_after,
                )
            return None
