"""Every secret the suite hands the function; none may ever appear in anything the function prints.

``tests/conftest.py`` checks, for every test, what was printed to stdout/stderr, every line the log sink
emitted (even when a test consumed it with capsys) and what the handler returned (via ``invoke``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

SECRETS = (
    "test-secret-not-real",  # access key secret
    "test-sts-token-not-real",  # STS token
    "test-shared-secret-not-real-0123456789",  # HTTP shared secret
    "test-alert-token-not-real-0123456789abcdef",  # CloudMonitor callback token
    "SECtest-not-real",  # DingTalk signing secret
    "ding-token-not-real",  # DingTalk webhook access_token
    "STStoken-not-real",
    "s3cret-pass",  # Redis passwords in URLs
    "not-a-real-pass",
    "demo-secret-not-real",
    "demo-sts-token",
)

_lock = threading.Lock()
_leaks: list[str] = []


def leaked_in(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def record(text: str) -> None:
    found = leaked_in(text)
    if found:
        with _lock:
            _leaks.append(f"{', '.join(found)} in: {text[:300]}")


def take() -> list[str]:
    with _lock:
        leaks = list(_leaks)
        _leaks.clear()
    return leaks


def watching(redact: Callable[[str], str]) -> Callable[[str], str]:
    """Wrap the log sink's last step, so every line the function emits is checked after redaction."""

    def checked(text: str) -> str:
        out = redact(text)
        record(out)
        return out

    return checked
