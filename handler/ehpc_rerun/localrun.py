"""Running the handler outside FC (dev-only; not deployed): a context object shaped like FC's, and what
``ehpc-rerun invoke`` needs around it (a simulator seed from the event, the exit code of a result)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings


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


# ---- ehpc-rerun invoke: the bundled simulator, seeded from the event ----------------------------------

# The simulator's made-up key (the defaults of `ehpc-rerun simulator`) and the STS token it demands here.
SIM_KEY_ID = "test-ak-id"
SIM_SECRET = "test-secret-not-real"  # noqa: S105 - a made-up key for the local simulator
SIM_TOKEN = "test-sts-token-not-real"  # noqa: S105 - made up, like the key


def seed_from_event(event: bytes, settings: Settings) -> dict[str, Any]:
    """A simulator seed in which every cluster and job the event names exists, the jobs RUNNING.

    The event is unwrapped as the handler will unwrap it (no side effects); rejected records seed nothing,
    an explicit scan seeds the clusters it names (without jobs).
    """
    from .errors import InvalidEvent
    from .models import CLUSTER_ID_PATTERN, Acknowledged, RerunRequest
    from .sources.detect import unwrap_event

    try:
        unwrapped = unwrap_event(event, settings)
    except InvalidEvent:
        return {"clusters": []}
    clusters: dict[str, dict[str, Any]] = {}

    def cluster(cluster_id: str, region: str | None) -> dict[str, Any]:
        region = region or settings.region or os.environ.get("FC_REGION") or "cn-hangzhou"
        return clusters.setdefault(cluster_id, {"id": cluster_id, "region": region, "jobs": []})

    for record in unwrapped.records:
        if isinstance(record, (RerunRequest, Acknowledged)) and record.cluster_id:
            entry = cluster(record.cluster_id, getattr(record, "region", None))
            known = {job["id"] for job in entry["jobs"]}
            entry["jobs"].extend(
                {"id": job_id, "state": "RUNNING"} for job_id in record.job_ids if job_id not in known
            )
    names = (unwrapped.scan or {}).get("clusters")
    for name in names if isinstance(names, list) else []:
        if isinstance(name, str) and re.match(CLUSTER_ID_PATTERN, name):
            cluster(name, None)
    return {"clusters": list(clusters.values())}


def exit_code(result: Any) -> int:
    """0 when every job got a non-failure decision; 1 when one failed, is unknown or was rejected, when
    the event was refused, or (HTTP) when the status code is not 2xx. Same rule as the HTTP 200/207."""
    from .responses import BAD

    if isinstance(result, dict) and "statusCode" in result:
        if not isinstance(result["statusCode"], int) or not 200 <= result["statusCode"] < 300:
            return 1
        result = result.get("body")
    try:
        body = json.loads(result) if isinstance(result, (str, bytes)) else result
    except ValueError:
        return 1
    if not isinstance(body, dict) or "error" in body:
        return 1
    bad = {status.value for status in BAD}
    outcomes = body.get("outcomes") or []
    return 1 if any(isinstance(o, dict) and o.get("status") in bad for o in outcomes) else 0


@contextlib.contextmanager
def scoped_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a block and put the previous values back (the CLI runs in-process)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
