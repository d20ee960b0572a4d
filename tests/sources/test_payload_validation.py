"""Request validation: what a RerunRequest may contain, and error records that name the field."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ehpc_rerun.models import MAX_JOB_ID_LENGTH, RecordError, RerunRequest, SourceKind
from ehpc_rerun.sources.payload import MAX_NESTING, Origin, records_from_payload

from .conftest import CLUSTER

ORIGIN = Origin(SourceKind.DIRECT, "src-1", max_jobs=5)


def one(payload: Any, origin: Origin = ORIGIN) -> RerunRequest | RecordError:
    [record] = records_from_payload(payload, origin)
    assert isinstance(record, (RerunRequest, RecordError))
    return record


def ok(payload: Any) -> RerunRequest:
    record = one(payload)
    assert isinstance(record, RerunRequest), getattr(record, "message", record)
    return record


def rejected(payload: Any) -> RecordError:
    record = one(payload)
    assert isinstance(record, RecordError), record
    return record


def fields(err: RecordError) -> list[str]:
    return [e.field for e in err.errors]


# --- cluster id -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["ehpc-hz-FYUr32a1b2", "ehpc-cnhangzh-1", "ehpc-sh-" + "a" * 40])
def test_valid_cluster_ids_are_accepted(cluster: str) -> None:
    assert ok({"cluster_id": cluster, "job_ids": ["1.s"]}).cluster_id == cluster


@pytest.mark.parametrize(
    "cluster",
    [
        "not-a-cluster",
        "ehpc-HZ-abc",
        "ehpc-hz-",
        "ehpc-h-abc",
        "ehpc-hz-ab_c",
        "ehpc-hz-abc\n",
        " ehpc-hz-abc",
        "ehpc-hz-" + "a" * 41,
        "EHPC-hz-abc",
    ],
)
def test_cluster_id_not_matching_the_pattern_is_rejected_with_an_example(cluster: str) -> None:
    # given a cluster id that is not ehpc-<region code>-<id>
    err = rejected({"cluster_id": cluster, "job_ids": ["1.s"]})
    # then the error names the field and shows the expected form
    assert err.code == "InvalidRequest"
    assert fields(err) == ["cluster_id"]
    assert "e.g. ehpc-hz-FYUr32a1b2" in err.message or "at most 64" in err.message
    assert err.job_ids == ("1.s",)


@pytest.mark.parametrize("cluster", [None, 42, ["ehpc-hz-a"]])
def test_cluster_id_missing_or_of_the_wrong_type_is_named(cluster: Any) -> None:
    payload = {"job_ids": ["1.s"]} if cluster is None else {"cluster_id": cluster, "job_ids": ["1.s"]}
    err = rejected(payload)
    assert fields(err) == ["cluster_id"]
    assert err.cluster_id is None


# --- job ids --------------------------------------------------------------------------------------


def test_empty_job_list_is_rejected() -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": []})
    assert fields(err) == ["job_ids"]
    assert err.cluster_id == CLUSTER


def test_missing_job_ids_is_required() -> None:
    err = rejected({"cluster_id": CLUSTER})
    assert [(e.field, e.problem) for e in err.errors] == [("job_ids", "is required")]
    assert err.message == "job_ids: is required"


def test_too_many_job_ids_is_too_many_jobs() -> None:
    # given six job ids and max_jobs_per_request = 5
    err = rejected({"cluster_id": CLUSTER, "job_ids": [f"{n}.s" for n in range(6)]})
    # then TooManyJobs, naming the setting and telling the caller to split
    assert err.code == "TooManyJobs"
    assert "6 job ids in one request; at most 5 are allowed" in err.message
    assert "EHPC_RERUN_MAX_JOBS_PER_REQUEST" in err.message
    assert err.cluster_id == CLUSTER


def test_exactly_the_maximum_number_of_job_ids_is_accepted() -> None:
    assert len(ok({"cluster_id": CLUSTER, "job_ids": [f"{n}.s" for n in range(5)]}).job_ids) == 5


def test_too_many_job_ids_in_the_api_form_is_too_many_jobs() -> None:
    err = rejected({"ClusterId": CLUSTER, "Jobs": [{"Id": f"{n}.s"} for n in range(6)]})
    assert err.code == "TooManyJobs"


def test_duplicate_job_ids_are_dropped_keeping_first_order() -> None:
    request = ok({"cluster_id": CLUSTER, "job_ids": ["2.s", "1.s", "2.s", "3.s", "1.s"]})
    assert request.job_ids == ("2.s", "1.s", "3.s")


@pytest.mark.parametrize(
    "job", ["1.s\x00", "\x1b[31mred", "1.s\nINJECTED", "1.\x7fs", "1.\x85s", "tab\there"]
)
def test_control_characters_in_a_job_id_are_rejected(job: str) -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["ok.s", job]})
    assert fields(err) == ["job_ids.1"]
    assert "control characters" in err.message


@pytest.mark.parametrize("job", [" 1.s", "1.s ", "\u00a01.s"])
def test_job_id_with_edge_white_space_is_rejected(job: str) -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": [job]})
    assert fields(err) == ["job_ids.0"]
    assert "white space" in err.message


def test_over_long_job_id_is_rejected_and_the_maximum_accepted() -> None:
    longest = "j" * MAX_JOB_ID_LENGTH
    assert ok({"cluster_id": CLUSTER, "job_ids": [longest]}).job_ids == (longest,)
    err = rejected({"cluster_id": CLUSTER, "job_ids": [longest + "j"]})
    assert fields(err) == ["job_ids.0"]
    assert "at most 128 characters" in err.message
    assert err.job_ids == (longest,)  # echoed, but truncated


@pytest.mark.parametrize("jobs", ["1.s", {"1.s": True}, [1], [None], [""]])
def test_job_ids_of_the_wrong_shape_are_named(jobs: Any) -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": jobs})
    assert fields(err)
    assert all(f.startswith("job_ids") for f in fields(err))


def test_single_job_id_field() -> None:
    assert ok({"cluster_id": CLUSTER, "job_id": "7.s"}).job_ids == ("7.s",)


# --- other fields ---------------------------------------------------------------------------------


def test_unknown_fields_are_named_in_the_error() -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["1.s"], "priority": 1, "user": "bob"})
    assert err.code == "InvalidRequest"
    assert (
        err.message
        == "unknown fields: priority, user (expected cluster_id, job_ids, reason, region, idempotency_key)"
    )
    assert err.cluster_id == CLUSTER


def test_over_long_unknown_field_names_are_truncated_in_the_message() -> None:
    # regression: a 100 KB key was echoed verbatim into the error (and so into logs and replies)
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["1.s"], "k" * 100_000: 1})
    assert len(err.message) < 200
    assert err.message.startswith("unknown fields: " + "k" * 64 + " (expected")


def test_region_and_reason_are_validated() -> None:
    request = ok({"cluster_id": CLUSTER, "job_ids": ["1.s"], "region": "ap-southeast-1", "reason": "stuck"})
    assert (request.region, request.reason) == ("ap-southeast-1", "stuck")
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["1.s"], "region": "Hangzhou", "reason": "a\nb"})
    assert sorted(fields(err)) == ["region"]


def test_control_characters_in_a_reason_become_spaces_rather_than_a_rejection() -> None:
    # a reason is free text for people; ids stay strict
    request = ok({"cluster_id": CLUSTER, "job_ids": ["1.s"], "reason": "line one\nline two\u202e"})
    assert request.reason == "line one line two "
    assert fields(rejected({"cluster_id": CLUSTER, "job_ids": ["a\u202eb"]})) == ["job_ids.0"]


def test_reason_over_1000_characters_is_rejected() -> None:
    assert ok({"cluster_id": CLUSTER, "job_ids": ["1.s"], "reason": "r" * 1000}).reason == "r" * 1000
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["1.s"], "reason": "r" * 1001})
    assert fields(err) == ["reason"]


def test_every_error_names_each_bad_field() -> None:
    err = rejected({"cluster_id": "bad", "job_ids": ["ok", " padded"], "region": "x", "reason": 5})
    assert sorted(fields(err)) == ["cluster_id", "job_ids.1", "reason", "region"]
    for field in ("cluster_id: ", "job_ids.1: ", "region: ", "reason: "):
        assert field in err.message


# --- the API form ---------------------------------------------------------------------------------


def test_api_form_with_jobs_as_a_list() -> None:
    request = ok({"ClusterId": CLUSTER, "Jobs": [{"Id": "1.s"}, {"Id": "2.s"}], "RegionId": "cn-hangzhou"})
    assert (request.cluster_id, request.job_ids, request.region) == (CLUSTER, ("1.s", "2.s"), "cn-hangzhou")


def test_api_form_with_jobs_as_a_json_string() -> None:
    # given Jobs as the JSON string the RerunJobs API itself takes
    request = ok({"ClusterId": CLUSTER, "Jobs": '[{"Id": "1.s"}, {"Id": "3.s"}]', "Reason": "api"})
    assert (request.job_ids, request.reason) == (("1.s", "3.s"), "api")


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ("[{Id: 1}", 'Jobs: not valid JSON; expected [{"Id": "1.scheduler"}]'),
        ("[" * 5000, 'Jobs: not valid JSON; expected [{"Id": "1.scheduler"}]'),  # regression: RecursionError
        ('["1.s"]', 'Jobs: expected a list like [{"Id": "1.scheduler"}]'),
        ([{"Id": 1}], 'Jobs: expected a list like [{"Id": "1.scheduler"}]'),
        ({"Id": "1.s"}, 'Jobs: expected a list like [{"Id": "1.scheduler"}]'),
        (None, 'Jobs: expected a list like [{"Id": "1.scheduler"}]'),
    ],
)
def test_api_form_with_bad_jobs_names_jobs(jobs: Any, expected: str) -> None:
    err = rejected({"ClusterId": CLUSTER, "Jobs": jobs})
    assert err.message == expected


def test_api_form_unknown_fields_are_named() -> None:
    err = rejected({"ClusterId": CLUSTER, "Jobs": [{"Id": "1.s"}], "Foo": 1, "job_ids": ["x"]})
    assert err.message == "unknown fields: Foo, job_ids"


def test_api_form_bad_cluster_names_cluster_id() -> None:
    err = rejected({"ClusterId": "c-123", "Jobs": [{"Id": "1.s"}]})
    assert fields(err) == ["cluster_id"]


# --- wrapping -------------------------------------------------------------------------------------


def test_second_parse_of_a_json_string_and_of_base64() -> None:
    text = json.dumps({"cluster_id": CLUSTER, "job_ids": ["1.s"]})
    assert ok(text).job_ids == ("1.s",)
    assert ok(base64.b64encode(text.encode()).decode()).job_ids == ("1.s",)
    assert ok(json.dumps(text)).job_ids == ("1.s",)  # a JSON string holding JSON
    assert ok(text.encode()).job_ids == ("1.s",)  # bytes


def test_non_utf8_bytes_payload_is_an_error() -> None:
    assert rejected(b"\xff\xfe").message == "message body is not UTF-8 text"


def test_nesting_deeper_than_the_limit_is_an_error() -> None:
    text = json.dumps({"cluster_id": CLUSTER, "job_ids": ["1.s"]})
    for _ in range(MAX_NESTING + 1):
        text = json.dumps(text)
    err = rejected(text)
    assert err.code == "InvalidPayload"
    assert f"more than {MAX_NESTING} levels" in err.message


def test_empty_list_is_an_empty_batch() -> None:
    assert rejected([]).code == "EmptyBatch"


@pytest.mark.parametrize("value", [42, 1.5, True, None])
def test_scalar_is_not_a_request(value: Any) -> None:
    err = rejected(value)
    assert err.code == "InvalidRequest"
    assert err.message.startswith("expected a JSON object with cluster_id and job_ids, got ")


def test_records_keep_the_origin() -> None:
    request = ok({"cluster_id": CLUSTER, "job_ids": ["1.s"]})
    assert (request.source, request.source_id) == (SourceKind.DIRECT, "src-1")


def test_a_valid_request_survives_a_dump_and_revalidation() -> None:
    request = ok({"cluster_id": CLUSTER, "job_ids": ["1.s", "1.s"], "region": "cn-hangzhou", "reason": "r"})
    assert RerunRequest.model_validate(request.model_dump()) == request


# --- lone surrogates (JSON "\ud800" escapes) -----------------------------------------------------------


def test_lone_surrogate_in_a_job_id_is_rejected_and_echoed_escaped() -> None:
    # given a job id carrying a lone surrogate, as json.loads makes of "1.s\ud800"
    # (regression: the RecordError echoed it raw, and the JSON log line then failed to encode)
    [record] = records_from_payload(
        json.loads('{"cluster_id": "ehpc-hz-x\\udfff", "job_ids": ["1.s\\ud800"]}'), ORIGIN
    )
    # then it is rejected, and every echoed string is valid UTF-8 with the surrogate escaped
    assert isinstance(record, RecordError)
    assert record.job_ids == ("1.s\\ud800",)
    assert record.cluster_id == "ehpc-hz-x\\udfff"
    record.model_dump_json().encode("utf-8")


def test_lone_surrogate_in_an_unknown_field_name_is_escaped() -> None:
    err = rejected(json.loads('{"cluster_id": "ehpc-hz-a", "job_ids": ["1.s"], "\\ud800": 1}'))
    assert err.message.startswith("unknown fields: \\ud800 (expected")
    err.message.encode("utf-8")


def test_an_idempotency_key_becomes_the_event_identity() -> None:
    # given a request that names its own idempotency key / when validated / then it is the event id
    assert (
        ok({"cluster_id": CLUSTER, "job_ids": ["1.s"], "idempotency_key": "ticket-42"}).event_id
        == "ticket-42"
    )


@pytest.mark.parametrize("key", ["", "a\nb", 7, "x" * 257])
def test_a_bad_idempotency_key_is_rejected_naming_the_field(key: object) -> None:
    err = rejected({"cluster_id": CLUSTER, "job_ids": ["1.s"], "idempotency_key": key})
    assert err.message.startswith("idempotency_key: ")
