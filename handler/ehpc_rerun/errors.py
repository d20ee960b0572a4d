"""The closed set of errors the function raises, each with a stable code and an actionable message.

Every error a user can see carries ``code`` (stable, documented in the README) and ``message``
(what went wrong and what to do). Nothing in this module ever includes a secret.
"""

from __future__ import annotations


class RerunError(Exception):
    """Base class: ``code`` is stable and machine-readable, ``message`` is for a person."""

    code: str = "RerunError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(RerunError):
    """A setting is missing or invalid; raised at initialisation, names the environment variable."""

    code = "ConfigError"


class InvalidEvent(RerunError):
    """The event as a whole cannot be understood (not JSON, unknown shape, too large)."""

    code = "InvalidEvent"


class StateStoreUnavailable(RerunError):
    """The state store could not be reached: the function fails closed and reruns nothing."""

    code = "StateStoreUnavailable"


class SinkError(RerunError):
    """A sink could not deliver; the dispatcher retries, then writes a ``sink_failed`` line."""

    code = "SinkError"


class TransientSinkError(SinkError):
    """A sink failure worth retrying (timeout, connection error, 5xx, throttling)."""


class PermanentSinkError(SinkError):
    """A sink failure a retry cannot fix (bad signature, unknown topic, ...): never retried."""


class RedeliveryRequested(RerunError):
    """Raised at the end of a batch when some jobs failed transiently, so the trigger redelivers.

    Dedupe makes the replay rerun only what is still missing.
    """

    code = "TransientFailures"
