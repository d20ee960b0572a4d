"""Malformed inputs give clear errors; bad settings stop initialisation; credentials come from FC."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.errors import ConfigError
from ehpc_rerun.localrun import LocalContext
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, KEY_ID, SECRET, TOKEN, request, statuses

Invoke = Callable[..., dict[str, Any]]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"   ", "empty"),
        (b"just some words", "not JSON"),
        (json.dumps({"hello": "world"}).encode(), "unknown event shape"),
        (json.dumps(42).encode(), "unknown event shape"),
    ],
)
def test_event_not_understood_as_a_whole_is_rejected_with_an_actionable_message(
    event: bytes, words: str, sim: Simulator, invoke: Invoke
) -> None:
    result = invoke(event)
    assert result["error"]["code"] == "InvalidEvent"
    assert words in result["error"]["message"]
    assert sim.calls == []


@pytest.mark.parametrize(
    ("record", "field", "problem"),
    [
        ({"cluster_id": CLUSTER, "job_ids": []}, "job_ids", "at least 1"),
        ({"cluster_id": CLUSTER, "job_ids": "1.scheduler"}, "job_ids", "tuple"),
        ({"cluster_id": CLUSTER, "job_ids": [7]}, "job_ids.0", "string"),
        ({"cluster_id": "ehpc_hz_x", "job_ids": ["1"]}, "cluster_id", "ehpc-<region code>-<id>"),
        ({"cluster_id": CLUSTER, "job_ids": ["a\nb"]}, "job_ids.0", "control characters"),
        ({"cluster_id": CLUSTER, "job_ids": ["x" * 129]}, "job_ids.0", "at most 128"),
        ({"cluster_id": CLUSTER, "job_ids": ["1"], "region": "Mars"}, "region", "pattern"),
        ({"job_ids": ["1"]}, "cluster_id", "required"),
    ],
)
def test_invalid_record_is_rejected_naming_the_field_while_the_rest_of_the_batch_goes_ahead(
    record: dict[str, Any], field: str, problem: str, sim: Simulator, invoke: Invoke
) -> None:
    result = invoke([record, request(["9.scheduler"])])
    rejected = [o for o in result["outcomes"] if o["status"] == "rejected"]
    assert len(rejected) == 1
    fields = {e["field"]: e["problem"] for e in rejected[0]["detail"]["errors"]}
    assert field in fields
    assert problem in fields[field]
    assert statuses(result)[f"{CLUSTER}/9.scheduler"] == "rerun"
    assert sim.rerun_job_ids() == ["9.scheduler"]


def test_duplicate_job_ids_are_merged_in_order(sim: Simulator, invoke: Invoke) -> None:
    invoke(request(["2.scheduler", "1.scheduler", "2.scheduler"]))
    assert sim.calls_for("RerunJobs")[0].job_ids == ["2.scheduler", "1.scheduler"]


def test_bad_setting_stops_initialisation_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHPC_RERUN_JOBS_PER_CALL", "500")
    monkeypatch.setenv("EHPC_RERUN_STATE", "mysql://db/x")
    app.reset()
    with pytest.raises(ConfigError) as raised:
        app.initialize(LocalContext())
    assert "EHPC_RERUN_JOBS_PER_CALL" in raised.value.message
    assert "EHPC_RERUN_STATE" in raised.value.message
    app.reset()


def test_credentials_come_from_the_environment_when_the_context_has_none(
    sim: Simulator, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given FC's Python 3.12 runtime: no context.credentials, the STS triple in ALIBABA_CLOUD_* variables
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
    app.handler(json.dumps(request(["1.scheduler"])).encode(), LocalContext(credentials=None))
    (call,) = sim.calls_for("RerunJobs")
    assert (call.signature_valid, call.access_key_id, call.security_token) == (True, KEY_ID, TOKEN)


def test_no_credentials_at_all_is_a_clear_error_and_no_job_stays_claimed(
    sim: Simulator, settings_env: Callable[..., None], no_credentials: None, invoke: Invoke
) -> None:
    with pytest.raises(ConfigError, match="give the function a role"):
        app.handler(json.dumps(request(["1.scheduler"])).encode(), LocalContext(credentials=None))
    # the claim was released: with credentials the job is rerun, not reported as a duplicate
    assert statuses(invoke(request(["1.scheduler"])))[f"{CLUSTER}/1.scheduler"] == "rerun"
