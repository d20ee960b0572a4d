"""What the digest tests share: a movable clock, a store that counts its calls, reports, and readers of
what the DingTalk fake really received."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.models import Status
from ehpc_rerun.report import InvocationReport
from ehpc_rerun.settings import Settings
from ehpc_rerun.sinks import Sink, build_sinks
from ehpc_rerun.state.base import Doc, DocWrite, StateStore

from .fakes import FakeDingTalk
from .reports import build_report, outcome

WINDOW_S = 60
T0 = 1_795_000_000_000  # the digest's clock (ms) at the start of each test
CLUSTERS = ("ehpc-hz-Alpha01", "ehpc-sh-Beta02", "ehpc-bj-Gamma03")


class Clock:
    """The wall clock the digest decides with; tests move it across windows."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


class CountingStore:
    """A real store, with a count of the document calls made on it (the cost of an invocation)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.reads = 0
        self.writes = 0

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        self.reads += 1
        return self.store.read_docs(keys, now_ms=now_ms)

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        self.writes += 1
        return self.store.write_docs(writes, now_ms=now_ms)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def sinks_for(
    robot: FakeDingTalk,
    store: Callable[[], StateStore],
    clock: Callable[[], int],
    creds: Credentials | None = None,
    **settings: Any,
) -> list[Sink]:
    """The sinks the handler builds, with the digest on ``store`` and ``clock``."""
    config = Settings(
        dingtalk_webhook=robot.webhook,
        dingtalk_secret=settings.pop("dingtalk_secret", robot.secret),
        dingtalk_digest_window_s=WINDOW_S,
        sink_timeout_s=settings.pop("sink_timeout_s", 2.0),
        **settings,
    )
    return build_sinks(config, creds, store=store, now_ms=clock)


def escalation(n: int, status: Status = Status.OVER_BUDGET, *, jobs: int = 1) -> InvocationReport:
    """Invocation ``n``: ``jobs`` jobs with ``status`` (and one rerun job, which is not escalated)."""
    cluster = CLUSTERS[n % len(CLUSTERS)]
    extra: dict[str, Any] = {"detail": {"reruns_in_window": 3}} if status is Status.OVER_BUDGET else {}
    if status is Status.FAILED:
        extra = {"error_code": "AgentError.Job.RerunFailure", "message": "Failed to rerun the job"}
    items = [outcome(cluster, f"{n}-{j}.sched", status, **extra) for j in range(jobs)]
    items.append(outcome(cluster, f"{n}-ok.sched", Status.RERUN))
    return build_report(items, invocation_id=f"inv-{n:03d}")


def quiet(n: int) -> InvocationReport:
    """An invocation that escalates nothing (e.g. the timer's scan finding nothing)."""
    return build_report([], invocation_id=f"quiet-{n:03d}", source="timer")


def lines_of(stdout: str, kind: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("type") == kind]


def listed_jobs(text: str) -> list[str]:
    """The job ids a digest lists, in order (lines ``- **status** `job`...``)."""
    return re.findall(r"^- \*\*\w+\*\* `([^`]+)`", text, flags=re.M)


def more_count(text: str) -> int:
    found = re.search(r"… and (\d+) more", text)
    return int(found.group(1)) if found else 0


def messages(robot: FakeDingTalk) -> list[dict[str, str]]:
    """The markdown messages the robot accepted (signature, token and body checked by the fake)."""
    return [{"title": r.extra["title"], "text": r.extra["text"]} for r in robot.ok]
