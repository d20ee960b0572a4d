"""Direct invoke: one request object, a list of them, {"requests": [...]}, or {"scan": {...}}."""

from __future__ import annotations

import json

from ehpc_rerun.models import RecordError, RerunRequest, SourceKind

from .conftest import CLUSTER, errors_of, jobs, load_event, requests_of, unwrap


def test_sample_single_request() -> None:
    # given the direct-invoke sample: one request with two jobs
    result = unwrap(load_event("direct-request.json"))
    # then one direct request, order kept
    assert result.kind is SourceKind.DIRECT
    [request] = result.records
    assert isinstance(request, RerunRequest)
    assert (request.cluster_id, request.job_ids) == ("ehpc-hz-demo01", ("16.scheduler", "41.scheduler"))
    assert request.reason == "operator request; 41 already finished"
    assert request.source is SourceKind.DIRECT
    assert request.source_id is None


def test_sample_mixed_batch_rejects_only_the_invalid_record() -> None:
    # given the batch with a valid record, one with an invalid cluster id, and another valid one
    result = unwrap(load_event("direct-batch-mixed.json"))
    # then records keep the batch order: request, error (index 1, naming the field), request
    first, second, third = result.records
    assert isinstance(first, RerunRequest) and isinstance(third, RerunRequest)
    assert (first.cluster_id, first.job_ids) == ("ehpc-hz-demo01", ("17.scheduler",))
    assert (third.cluster_id, third.job_ids) == ("ehpc-hz-demo01", ("1.scheduler",))
    assert isinstance(second, RecordError)
    assert (second.index, second.code, second.cluster_id, second.job_ids) == (
        1,
        "InvalidRequest",
        "not-a-cluster",
        ("18.scheduler",),
    )
    assert [e.field for e in second.errors] == ["cluster_id"]
    assert "ehpc-<region code>-<id>" in second.message


def test_requests_wrapper() -> None:
    event = {
        "requests": [{"cluster_id": CLUSTER, "job_ids": ["1.s"]}, {"cluster_id": CLUSTER, "job_id": "2.s"}]
    }
    result = unwrap(event)
    assert result.kind is SourceKind.DIRECT
    assert jobs(result) == [(CLUSTER, ("1.s",)), (CLUSTER, ("2.s",))]


def test_scan_request() -> None:
    result = unwrap({"scan": {"clusters": [CLUSTER]}})
    assert result.scan == {"clusters": [CLUSTER]}
    assert result.records == []


def test_scan_next_to_other_fields_is_an_error_naming_scan() -> None:
    result = unwrap({"scan": {}, "cluster_id": CLUSTER, "job_ids": ["1.s"]})
    assert result.scan is None
    [err] = errors_of(result)
    assert err.message.startswith("unknown fields: scan")
    assert err.cluster_id == CLUSTER


def test_list_inside_a_list_is_an_error_record() -> None:
    result = unwrap([{"cluster_id": CLUSTER, "job_ids": ["1.s"]}, [{"cluster_id": CLUSTER}]])
    assert jobs(result) == [(CLUSTER, ("1.s",))]
    [err] = errors_of(result)
    assert (err.index, err.message) == (1, "a list inside a list is not a request")


def test_batch_with_non_object_elements_keeps_the_valid_requests() -> None:
    # given a list with one valid request and elements that are not objects
    # (regression: the whole batch was an InvalidEvent unless every element was an object)
    result = unwrap([{"cluster_id": CLUSTER, "job_ids": ["1.s"]}, 42, "garbage", None])
    # then the request survives and each other element is an error at its index
    assert result.kind is SourceKind.DIRECT
    assert jobs(result) == [(CLUSTER, ("1.s",))]
    assert [(e.index, e.code) for e in errors_of(result)] == [
        (1, "InvalidRequest"),
        (2, "InvalidPayload"),
        (3, "InvalidRequest"),
    ]


def test_list_of_only_non_objects_is_not_a_direct_batch() -> None:
    import pytest

    from ehpc_rerun.errors import InvalidEvent

    with pytest.raises(InvalidEvent):
        unwrap([1, 2, 3])


def test_direct_string_and_dict_inputs_equal_bytes() -> None:
    # local tools may pass the event as str or as parsed JSON instead of bytes
    from ehpc_rerun.settings import Settings
    from ehpc_rerun.sources.detect import unwrap_event

    event = {"cluster_id": CLUSTER, "job_ids": ["1.s"]}
    by_bytes = unwrap(event)
    by_str = unwrap_event(json.dumps(event), Settings())
    by_dict = unwrap_event(event, Settings())
    assert by_bytes.records == by_str.records == by_dict.records
    assert requests_of(by_dict)[0].job_ids == ("1.s",)
