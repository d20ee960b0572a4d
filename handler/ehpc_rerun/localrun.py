"""Running the handler outside FC: a context object shaped like FC's (dev-only; not deployed)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocalCredentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass
class LocalFunction:
    name: str = "ehpc-rerun-local"
    handler: str = "index.handler"
    memory: int = 256
    timeout: int = 60


@dataclass
class LocalContext:
    """FC's Python 3.10 context: request_id, credentials (STS triple), function, region."""

    request_id: str = field(default_factory=lambda: f"local-{uuid.uuid4()}")
    credentials: LocalCredentials | None = None
    function: LocalFunction = field(default_factory=LocalFunction)
    region: str = "cn-hangzhou"
    account_id: str = "local"

    @classmethod
    def from_env(cls, **overrides: Any) -> LocalContext:
        key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        creds = None
        if key_id:
            creds = LocalCredentials(
                key_id,
                os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
                os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None,
            )
        return cls(credentials=creds, region=os.environ.get("FC_REGION", "cn-hangzhou"), **overrides)
