"""The sink contract: somewhere an invocation report is published."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ehpc_rerun.report import InvocationReport


class Sink(Protocol):
    """One destination for reports. ``publish`` makes one attempt and raises
    :class:`~ehpc_rerun.errors.SinkError` on failure; the dispatcher retries and never lets a sink
    failure block a rerun or another sink."""

    name: str

    def wants(self, report: InvocationReport) -> bool:
        """Whether this report is for this sink (e.g. DingTalk only when a human must act)."""
        ...

    def publish(self, report: InvocationReport) -> None: ...


@runtime_checkable
class DeliversItself(Protocol):
    """A sink with its own delivery policy (the DingTalk digest): the dispatcher calls ``deliver``
    once, without retries; it returns ``"sent" | "queued" | "skipped" | "failed"`` and writes its own
    ``sink_failed`` line when something could not be delivered."""

    name: str

    def deliver(self, report: InvocationReport) -> str: ...
