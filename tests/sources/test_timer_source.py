"""Timer trigger: {"triggerTime", "triggerName", "payload"} (fc-events.md §2.6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ehpc_rerun.models import RecordError, SourceKind

from .conftest import CLUSTER, errors_of, jobs, load_event, requests_of, unwrap


def timer(payload: Any = None, *, with_payload: bool = True) -> dict[str, Any]:
    event: dict[str, Any] = {"triggerTime": "2026-11-25T07:49:00Z", "triggerName": "nightly"}
    if with_payload:
        event["payload"] = payload
    return event


def test_sample_payload_with_requests() -> None:
    # given the sample timer event whose payload string is {"requests": [...]}
    result = unwrap(load_event("timer-requests.json"))
    # then its request, tagged with trigger name and time, and no scan
    assert result.kind is SourceKind.TIMER
    assert jobs(result) == [("ehpc-hz-demo01", ("14.scheduler", "15.scheduler"))]
    [request] = requests_of(result)
    assert request.source_id == "ehpc-rerun-nightly@2026-11-25T07:49:00Z"
    assert request.reason == "nightly pipeline retry"
    assert result.scan is None


@pytest.mark.parametrize("payload", [None, "", {}], ids=["null", "empty-string", "empty-object"])
def test_empty_payload_means_a_detector_scan(payload: Any) -> None:
    result = unwrap(timer(payload))
    assert result.scan == {}
    assert result.records == []


def test_missing_payload_means_a_detector_scan() -> None:
    result = unwrap(timer(with_payload=False))
    assert result.scan == {}
    assert result.records == []


def test_scan_payload_is_passed_on() -> None:
    # given payload {"scan": {...}} as the trigger's string
    scan = {"clusters": [CLUSTER], "rules": ["stuck-queued"]}
    result = unwrap(timer(json.dumps({"scan": scan})))
    # then exactly that scan is requested, no records
    assert result.scan == scan
    assert result.records == []


def test_scan_payload_that_is_not_an_object_is_rejected_not_turned_into_a_full_scan() -> None:
    result = unwrap(timer(json.dumps({"scan": True})))
    assert result.scan is None
    [err] = errors_of(result)
    assert err.code == "InvalidScan"
    assert "must be an object" in err.message


def test_single_request_and_list_payloads() -> None:
    one = unwrap(timer(json.dumps({"cluster_id": CLUSTER, "job_ids": ["1.s"]})))
    many = unwrap(timer(json.dumps([{"cluster_id": CLUSTER, "job_ids": ["1.s"]}, {"cluster_id": CLUSTER}])))
    assert jobs(one) == [(CLUSTER, ("1.s",))]
    assert jobs(many) == [(CLUSTER, ("1.s",))]
    [err] = errors_of(many)
    assert (err.index, err.errors[0].field, err.errors[0].problem) == (1, "job_ids", "is required")


@pytest.mark.parametrize("payload", ["awesome-fc", "{not json", "[" * 5000], ids=["word", "broken", "deep"])
def test_non_json_payload_is_a_record_error(payload: str) -> None:
    # given a payload string that is not JSON (deep nesting: regression, RecursionError escaped)
    result = unwrap(timer(payload))
    # then one error record telling the operator what to set
    [err] = result.records
    assert isinstance(err, RecordError)
    assert err.code == "InvalidPayload"
    assert 'set it to a request or {"scan": {}}' in err.message
    assert err.source_id == "nightly@2026-11-25T07:49:00Z"
    assert result.scan is None


def test_payload_given_as_an_object_not_a_string() -> None:
    # local tools may put the JSON object itself in payload
    result = unwrap(timer({"requests": [{"cluster_id": CLUSTER, "job_ids": ["2.s"]}]}))
    assert jobs(result) == [(CLUSTER, ("2.s",))]
