"""The scan on its own (no handler, a fake E-HPC): deadline, odd job ids, and the records it hands over."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.detector import scan_records
from ehpc_rerun.detector.rules import RuleSet, parse_rules
from ehpc_rerun.ehpc.client import LIST_PAGE_SIZE, JobInfo, JobPage
from ehpc_rerun.models import JobOutcome, RecordError, RerunRequest, SourceKind, Status
from ehpc_rerun.pipeline import Invocation
from ehpc_rerun.settings import Settings
from ehpc_rerun.state.base import Doc, DocWrite, StateStore
from ehpc_rerun.state.sqlite import SqliteStateStore
from tests.detector.conftest import HOUR, NOW_MS, A, B, ago


class FakeEhpc:
    """Answers ListJobs pages from a dict; records what it was asked."""

    region = "cn-hangzhou"

    def __init__(self, jobs: dict[str, list[JobInfo]]) -> None:
        self.jobs = jobs
        self.listed: list[str] = []

    def list_page(self, cluster_id: str, page: int, *, owner: str | None = None) -> JobPage:
        self.listed.append(cluster_id)
        jobs = self.jobs.get(cluster_id, [])
        return JobPage(jobs[(page - 1) * LIST_PAGE_SIZE : page * LIST_PAGE_SIZE], len(jobs))

    def rerun_jobs(self, cluster_id: str, job_ids: Sequence[str]) -> str:
        raise AssertionError("a scan never calls RerunJobs")


class DocsOnlyStore:
    """A real SQLite store that a scan may use only for documents (rate-limit tokens, listing snapshots):
    a scan never claims, completes or releases a job."""

    def __init__(self, path: Path) -> None:
        self.real = SqliteStateStore(str(path))

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        return self.real.read_docs(keys, now_ms=now_ms)

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        return self.real.write_docs(writes, now_ms=now_ms)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a scan never calls the state store's {name}")


@pytest.fixture(autouse=True)
def _docs_store(tmp_path: Path) -> Iterator[None]:
    _STORE[:] = [DocsOnlyStore(tmp_path / "docs.db")]
    yield
    _STORE.pop().real.close()


_STORE: list[DocsOnlyStore] = []


def invocation(api: FakeEhpc, deadline_s: float = 30.0, **settings: Any) -> Invocation:
    return Invocation(
        Settings(**settings),
        "inv-1",
        "cn-hangzhou",
        Deadline.after(deadline_s),
        lambda: cast(StateStore, _STORE[0]),
        lambda region: api,
        now_ms=lambda: NOW_MS,
    )


def rules(*items: dict[str, Any]) -> RuleSet:
    return parse_rules({"rules": list(items)})


def running(job_id: str, hours: float, **fields: str) -> JobInfo:
    values = {"start_time": ago(hours * HOUR), "last_modify_time": ago(hours * HOUR), **fields}
    return JobInfo(id=job_id, state="RUNNING", **values)


def test_clusters_not_started_before_the_deadline_are_left_for_the_next_scan() -> None:
    api = FakeEhpc({A: [running("1", 9)]})
    records = scan_records(
        {}, invocation(api, deadline_s=-1), rules({"name": "r", "clusters": [A, B], "unchanged_for": "1h"})
    )
    assert api.listed == []
    assert [
        (r.cluster_id, r.status, r.error_code, r.transient) for r in records if isinstance(r, JobOutcome)
    ] == [
        (A, Status.FAILED, "DeadlineReached", True),
        (B, Status.FAILED, "DeadlineReached", True),
    ]


def test_each_match_is_one_detector_request_carrying_its_own_reason_and_ages() -> None:
    api = FakeEhpc({A: [running("1", 9), running("2", 5)]})
    records = scan_records(
        {}, invocation(api), rules({"name": "r", "clusters": [A], "running_longer_than": "4h"})
    )
    assert all(isinstance(r, RerunRequest) for r in records)
    requests = [r for r in records if isinstance(r, RerunRequest)]
    assert [(r.job_ids, r.rule, r.source, r.source_id, r.region, r.report_only) for r in requests] == [
        (("1",), "r", SourceKind.DETECTOR, "scan:inv-1", "cn-hangzhou", False),
        (("2",), "r", SourceKind.DETECTOR, "scan:inv-1", "cn-hangzhou", False),
    ]
    assert [r.reason for r in requests] == ["rule r: RUNNING for 9h (> 4h)", "rule r: RUNNING for 5h (> 4h)"]
    assert requests[0].detail["running_s"] == 9 * HOUR


def test_a_job_id_we_would_not_accept_from_an_event_is_rejected_not_rerun() -> None:
    api = FakeEhpc({A: [running("bad\nid", 9), running(" padded ", 9), running("ok", 9)]})
    records = scan_records(
        {}, invocation(api), rules({"name": "r", "clusters": [A], "running_longer_than": "4h"})
    )
    assert [r.job_ids for r in records if isinstance(r, RerunRequest)] == [("ok",)]
    assert [r.code for r in records if isinstance(r, RecordError)] == ["InvalidJobId", "InvalidJobId"]


def test_report_only_from_setting_and_request_is_carried_on_the_request() -> None:
    api = FakeEhpc({A: [running("1", 9)]})
    ruleset = rules({"name": "r", "clusters": [A], "running_longer_than": "4h"})
    [by_setting] = scan_records({}, invocation(api, detector_report_only=True), ruleset)
    [by_request] = scan_records({"report_only": True}, invocation(api), ruleset)
    assert isinstance(by_setting, RerunRequest)
    assert isinstance(by_request, RerunRequest)
    assert by_setting.report_only
    assert by_request.report_only


def test_region_of_the_scan_is_used_for_listing_and_requests() -> None:
    api = FakeEhpc({A: [running("1", 9)]})
    asked: list[str] = []
    inv = invocation(api)
    inv.api_for = lambda region: asked.append(region) or api  # type: ignore[func-returns-value]
    [record] = scan_records(
        {"region": "cn-shanghai"}, inv, rules({"name": "r", "clusters": [A], "running_longer_than": "4h"})
    )
    assert set(asked) == {"cn-shanghai"}  # for the credentials, then for the listing
    assert isinstance(record, RerunRequest)
    assert record.region == "cn-shanghai"
    assert json.loads(record.model_dump_json())["source"] == "detector"
