"""The STS credentials FC gives the function: from ``context.credentials`` (Python 3.10) or the
``ALIBABA_CLOUD_*`` environment variables (Python 3.12). Never long-lived keys, never logged."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any output (used by redaction checks)."""
        return tuple(v for v in (self.access_key_secret, self.security_token) if v)


def credentials_from(context: Any) -> Credentials:
    """Read the credentials for this invocation (read per call: FC refreshes them)."""
    creds = getattr(context, "credentials", None)
    if creds is not None and getattr(creds, "access_key_id", None):
        return Credentials(
            access_key_id=str(creds.access_key_id),
            access_key_secret=str(getattr(creds, "access_key_secret", "") or ""),
            security_token=getattr(creds, "security_token", None) or None,
        )
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if not key_id or not secret:
        raise ConfigError(
            "no credentials: give the function a role (FC then provides context.credentials or the "
            "ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALIBABA_CLOUD_SECURITY_TOKEN "
            "variables)",
            code="MissingCredentials",
        )
    return Credentials(key_id, secret, os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None)
