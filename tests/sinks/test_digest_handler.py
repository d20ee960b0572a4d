"""The digest through the real handler: E-HPC simulator, SQLite state, the DingTalk fake, FC events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.simulator import Simulator
from tests.conftest import request, statuses

from .digest_helpers import WINDOW_S, lines_of, listed_jobs, messages
from .fakes import FakeDingTalk

Invoke = Callable[..., dict[str, Any]]
TIMER_SCAN = {"triggerTime": "2026-11-25T12:00:00Z", "triggerName": "scan", "payload": ""}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_795_000_000_000]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


def test_capped_floods_reach_people_as_one_message_per_window_and_the_timer_scan_sends_the_rest(
    settings_env: Callable[..., None],
    invoke: Invoke,
    sim: Simulator,
    dingtalk: FakeDingTalk,
    clock: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a DingTalk robot and a blast-radius cap of 1 job per invocation
    settings_env(
        dingtalk_webhook=dingtalk.webhook, dingtalk_secret=dingtalk.secret, max_jobs_per_invocation=1
    )
    # when 12 HTTP invocations within one window each ask for 2 jobs (over the cap: both capped)
    seen: dict[str, str] = {}
    for n in range(12):
        jobs = [f"{2 * n + k + 1}.scheduler" for k in range(2)]
        seen.update(statuses(invoke(request(jobs), request_id=f"req-{n:03d}")))
        clock[0] += 4_000
    # then 24 jobs were capped, and people got ONE message (the first invocation's 2 jobs, at once)
    assert list(seen.values()) == ["capped"] * 24
    assert sim.calls_for("RerunJobs") == []
    assert len(messages(dingtalk)) == 1
    assert len(listed_jobs(messages(dingtalk)[0]["text"])) == 2
    # and every job has its own outcome line
    out = capsys.readouterr().out
    assert len(lines_of(out, "ehpc_rerun.outcome")) == 24
    # when the window has passed and the timer's scan finds nothing to do
    clock[0] += WINDOW_S * 1000
    result = invoke(TIMER_SCAN, request_id="timer-001")
    assert result["source"] == "timer"
    assert "capped" not in {o["status"] for o in result["outcomes"]}
    # then it sent the one digest of the 22 that waited: 20 by name and "and 2 more"
    assert len(messages(dingtalk)) == 2
    digest = messages(dingtalk)[1]
    assert digest["title"] == "ehpc-rerun: capped (22 jobs escalated)"
    assert len(listed_jobs(digest["text"])) == 20
    assert "… and 2 more (2 capped)" in digest["text"]
    assert "EHPC_RERUN_MAX_JOBS_PER_INVOCATION" in digest["text"]
    # and the next scan, with nothing pending, sends nothing
    clock[0] += WINDOW_S * 1000
    invoke(TIMER_SCAN, request_id="timer-002")
    assert len(dingtalk.received) == 2


def test_the_escalation_link_replaces_the_logstore_hint(
    settings_env: Callable[..., None], invoke: Invoke, dingtalk: FakeDingTalk, clock: list[int]
) -> None:
    # given an escalation link (e.g. the SLS dashboard)
    link = "https://sls.console.aliyun.com/lognext/project/p/dashboard/ehpc-rerun-ops"
    settings_env(
        dingtalk_webhook=dingtalk.webhook,
        dingtalk_secret=dingtalk.secret,
        max_jobs_per_invocation=1,
        escalation_link=link,
    )
    # when an invocation caps a job
    assert set(statuses(invoke(request(["1.scheduler", "2.scheduler"]))).values()) == {"capped"}
    # then the message points there
    (message,) = messages(dingtalk)
    assert f"]({link})" in message["text"]
    assert "message.type" not in message["text"]
    assert json.loads(dingtalk.received[0].body)["msgtype"] == "markdown"
