"""render: readable markdown for people, the stable JSON for machines, both bounded."""

from __future__ import annotations

import json

from ehpc_rerun.models import Status
from ehpc_rerun.sinks.render import render_markdown, report_json, report_json_bytes, title

from .reports import build_report, every_status_report, outcome


def test_every_status_renders_a_headline_clusters_jobs_and_next_steps() -> None:
    # given a report with one job in every status over two clusters
    report = every_status_report()
    # when rendered
    text = render_markdown(report)
    # then the headline names the most serious status, the counts and how many need a human
    head = text.splitlines()[0]
    assert head == "### ehpc-rerun: failed"
    assert "1 failed, 1 unknown, 1 capped, 1 over_budget" in text
    assert "4 jobs need a human" in text
    # and every cluster and every job is named, with its error code or reason
    for name in (
        "ehpc-hz-Alpha01",
        "ehpc-sh-Beta02",
        *(f"{n}.sched" for n in (101, 102, 103, 104, 105, 106)),
    ):
        assert name in text
    for name in ("201.sched", "202.sched", "203.sched", "204.sched"):
        assert name in text
    assert "**failed** `204.sched`: AgentError.Job.RerunFailure: Failed to rerun the job" in text
    assert "**rejected** `202.sched`: InvalidJobId: bad id" in text
    # and there is one "what to do next" line per human status, in severity order
    steps = text.split("#### What to do next", 1)[1].strip().splitlines()
    assert [line.split("**")[1] for line in steps] == ["failed", "unknown", "capped", "over_budget"]
    assert (
        "job `105.sched` on `ehpc-hz-Alpha01` was rerun 3 times in the window; look at it before raising "
        "EHPC_RERUN_BUDGET_MAX_RERUNS" in steps[3]
    )
    assert "E-HPC error `AgentError.Job.RerunFailure`" in steps[0]
    assert "check the job in the E-HPC console; it may have been rerun" in steps[1]
    assert "EHPC_RERUN_MAX_JOBS_PER_INVOCATION" in steps[2]


def test_the_most_serious_cluster_comes_first() -> None:
    text = render_markdown(every_status_report())
    assert text.index("**Cluster `ehpc-sh-Beta02`**") < text.index("**Cluster `ehpc-hz-Alpha01`**")


def test_a_report_where_all_went_well_has_no_next_steps() -> None:
    report = build_report([outcome("ehpc-hz-a1", f"{i}.s", Status.RERUN) for i in range(3)])
    text = render_markdown(report)
    assert text.startswith("### ehpc-rerun: rerun")
    assert "- rerun (3): `0.s`, `1.s`, `2.s`" in text
    assert "What to do next" not in text
    assert title(report) == "ehpc-rerun: rerun"


def test_a_long_report_is_truncated_with_and_n_more_but_keeps_the_next_steps() -> None:
    # given 3 000 failed jobs, far beyond DingTalk's 20 000 characters
    failed = [
        outcome(
            "ehpc-hz-a1", f"job-{i:05d}", Status.FAILED, error_code="InvalidClusterStatus", message="stopped"
        )
        for i in range(3000)
    ]
    report = build_report(failed)
    # when rendered with the default bound
    text = render_markdown(report)
    # then it fits, says how many were left out, and still tells people what to do
    assert len(text) <= 18_000
    shown = text.count("- **failed** `job-")
    assert 0 < shown < 3000
    assert f"… and {3000 - shown} more jobs" in text
    assert "#### What to do next" in text
    assert "and 2995 more" in text.split("#### What to do next", 1)[1]


def test_markdown_breaking_characters_in_ids_and_messages_are_neutralised() -> None:
    report = build_report([outcome("ehpc-hz-a1", "evil`id", Status.UNKNOWN, message="line one\nline `two`")])
    text = render_markdown(report)
    assert "`evil'id`" in text
    assert "line one line 'two'" in text


def test_report_json_is_the_stable_model_dump() -> None:
    report = every_status_report()
    assert report_json(report) == report.model_dump(mode="json")
    assert json.loads(report_json_bytes(report)) == report.model_dump(mode="json")


def test_report_json_bytes_trims_least_serious_outcomes_first_to_fit() -> None:
    # given a big report with a single serious job at the very end
    outcomes = [outcome("ehpc-hz-a1", f"{i}.s", Status.DUPLICATE, message="z" * 50) for i in range(1000)]
    outcomes.append(outcome("ehpc-hz-a1", "cap.s", Status.CAPPED))
    report = build_report(outcomes)
    # when trimmed to 10 000 bytes
    raw = report_json_bytes(report, 10_000)
    body = json.loads(raw)
    # then it fits, the capped job comes first, and the counts still describe all 1 001 jobs
    assert len(raw) <= 10_000
    assert body["outcomes"][0]["job_id"] == "cap.s"
    assert body["outcomes_truncated"] == 1001 - len(body["outcomes"])
    assert body["counts"] == {"capped": 1, "duplicate": 1000}
