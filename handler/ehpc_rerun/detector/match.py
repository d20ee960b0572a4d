"""Judging one listed job against the rules: the first rule that matches wins.

For each rule, in order:

1. the *non-time* criteria: the rule covers the cluster, the job's state is one of the rule's states,
   ``owner`` and ``name_pattern`` match, and ``exclude`` does not; otherwise the next rule is tried;
2. the times the rule needs for this state are read (RUNNING: StartTime for ``running_longer_than``;
   QUEUED: SubmitTime for ``queued_longer_than``; any state: LastModifyTime for ``unchanged_for``). If one
   cannot be read the job is reported as *unreadable* under this rule and no later rule is tried: a job
   whose age is unknown is never rerun by a later, looser rule;
3. every applicable age must be strictly longer than its threshold; otherwise the next rule is tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ehpc_rerun.detector.rules import Rule, compiled
from ehpc_rerun.detector.times import age_seconds, format_age, instant, parse_time
from ehpc_rerun.ehpc.client import JobInfo


@dataclass(frozen=True)
class Criterion:
    setting: str  # the rule field
    ehpc_field: str  # the ListJobs field the age is measured from
    label: str  # for the reason: "RUNNING for", "unchanged for"
    key: str  # detail key: running_s, queued_s, unchanged_s
    limit_s: int


@dataclass(frozen=True)
class Match:
    """A job a rule wants rerun, with the ages that made it match."""

    rule: Rule
    cluster_id: str
    job: JobInfo
    ages: dict[str, int]
    reason: str
    oldest_s: float  # the longest age the rule checked: the cap takes the oldest jobs first

    def detail(self) -> dict[str, Any]:
        return {"state": self.job.state, "owner": self.job.owner, "job_name": self.job.name, **self.ages}


@dataclass(frozen=True)
class Unreadable:
    """A job a rule would consider, but one of whose times cannot be read."""

    rule: Rule
    cluster_id: str
    job: JobInfo
    ehpc_field: str
    raw: str
    ages: dict[str, int] = field(default_factory=dict)


def criteria(rule: Rule, state: str) -> list[Criterion]:
    """The age criteria that apply to a job in ``state`` (all must hold)."""
    found = []
    if state == "RUNNING" and rule.running_longer_than is not None:
        found.append(
            Criterion(
                "running_longer_than", "StartTime", "RUNNING for", "running_s", rule.running_longer_than
            )
        )
    if state == "QUEUED" and rule.queued_longer_than is not None:
        found.append(
            Criterion("queued_longer_than", "SubmitTime", "QUEUED for", "queued_s", rule.queued_longer_than)
        )
    if rule.unchanged_for is not None:
        found.append(
            Criterion("unchanged_for", "LastModifyTime", "unchanged for", "unchanged_s", rule.unchanged_for)
        )
    return found


def _raw(job: JobInfo, ehpc_field: str) -> str:
    return {
        "StartTime": job.start_time,
        "SubmitTime": job.submit_time,
        "LastModifyTime": job.last_modify_time,
    }[ehpc_field]


def selects(rule: Rule, cluster_id: str, job: JobInfo) -> bool:
    """The non-time criteria: cluster, state, owner, name pattern, exclusions."""
    if not rule.covers(cluster_id) or job.state not in rule.effective_states:
        return False
    if rule.owner is not None and job.owner != rule.owner:
        return False
    if rule.name_pattern is not None and not compiled(rule.name_pattern).search(job.name):
        return False
    exclude = rule.exclude
    if job.id in exclude.job_ids or job.owner in exclude.owners:
        return False
    return not (exclude.name_pattern is not None and compiled(exclude.name_pattern).search(job.name))


def ages_of(job: JobInfo, now: datetime) -> dict[str, int]:
    """Every age that can be read for the job's state, in whole seconds (for reports)."""
    fields = [("unchanged_s", job.last_modify_time)]
    if job.state == "RUNNING":
        fields.insert(0, ("running_s", job.start_time))
    elif job.state == "QUEUED":
        fields.insert(0, ("queued_s", job.submit_time))
    ages = {}
    for key, raw in fields:
        when = parse_time(raw)
        if when is not None:
            ages[key] = int(age_seconds(when, now))
    return ages


def judge(rules: Sequence[Rule], cluster_id: str, job: JobInfo, now_ms: int) -> Match | Unreadable | None:
    """The first rule's verdict on the job, or None if no rule matches."""
    now = instant(now_ms)
    for rule in rules:
        if not selects(rule, cluster_id, job):
            continue
        checks = criteria(rule, job.state)
        if not checks:
            continue
        measured: list[tuple[Criterion, float]] = []
        for check in checks:
            raw = _raw(job, check.ehpc_field)
            when = parse_time(raw)
            if when is None:
                return Unreadable(rule, cluster_id, job, check.ehpc_field, raw, ages_of(job, now))
            measured.append((check, age_seconds(when, now)))
        if all(age > check.limit_s for check, age in measured):
            reason = f"rule {rule.name}: " + ", ".join(
                f"{check.label} {format_age(age)} (> {format_age(check.limit_s)})" for check, age in measured
            )
            oldest = max(age for _, age in measured)
            return Match(rule, cluster_id, job, ages_of(job, now), reason, oldest)
    return None
