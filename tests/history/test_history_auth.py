"""GET /jobs/{cluster_id}/{job_id} is authenticated like a POST: FC checks the caller in function mode; in
anonymous mode the request must carry a signature for GET, this path and the empty body, once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sources.http_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.conftest import CLUSTER, http_event, request

from .conftest import history_get

Invoke = Callable[..., dict[str, Any]]
SHARED = "test-shared-secret-not-real-0123456789"
JOB = "31.scheduler"
PATH = f"/jobs/{CLUSTER}/{JOB}"


def signed_headers(method: str, path: str, body: bytes = b"") -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = sign(SHARED, timestamp, body, method=method, path=path)
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}


def code_of(response: dict[str, Any]) -> tuple[int, str | None]:
    return response["statusCode"], response["body"].get("error", {}).get("code")


def test_anonymous_mode_answers_only_a_get_signed_for_this_path_and_only_once(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given an anonymous trigger with a shared secret, and a job rerun through it (a signed POST)
    settings_env(http_auth="anonymous", http_secret=SHARED)
    body = json.dumps(request([JOB]))
    rerun = invoke(http_event(body, headers=signed_headers("POST", "/rerun", body.encode()), path="/rerun"))
    assert rerun["statusCode"] == 200
    # when its history is asked for unsigned, signed for another path, with a POST's signature for this
    # path, signed for GET over a body, and then properly signed (twice: the same signature again)
    unsigned = invoke(history_get(JOB))
    other_path = invoke(history_get(JOB, headers=signed_headers("GET", f"/jobs/{CLUSTER}/32.scheduler")))
    post_signature = invoke(history_get(JOB, headers=signed_headers("POST", PATH, body.encode())))
    over_a_body = invoke(history_get(JOB, headers=signed_headers("GET", PATH, b"{}")))
    good = signed_headers("GET", PATH)
    answered = invoke(history_get(JOB, headers=good))
    replayed = invoke(history_get(JOB, headers=good))
    # then only the good signature is answered, once; the others are JSON 401s naming why
    assert code_of(unsigned) == (401, "MissingSignature")
    assert code_of(other_path) == (401, "SignatureDoesNotMatch")
    assert code_of(post_signature) == (401, "SignatureDoesNotMatch")
    assert code_of(over_a_body) == (401, "SignatureDoesNotMatch")
    assert code_of(replayed) == (401, "ReplayedRequest")
    assert answered["statusCode"] == 200
    [entry] = answered["body"]["reruns"]
    assert entry["invocation_id"] == rerun["body"]["request_id"]
    for refused in (unsigned, other_path, post_signature, over_a_body, replayed):
        assert "reruns" not in refused["body"]
        assert refused["headers"]["Content-Type"].startswith("application/json")
    assert len(sim.calls_for("RerunJobs")) == 1


def test_anonymous_mode_without_a_secret_refuses_the_history_and_says_how_to_fix_it(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given an anonymous trigger with no secret configured, when a history is asked for
    settings_env(http_auth="anonymous")
    response = invoke(history_get(JOB, headers=signed_headers("GET", PATH)))
    # then 401 naming the variable to set
    assert code_of(response) == (401, "HttpSecretNotConfigured")
    assert "EHPC_RERUN_HTTP_SECRET" in response["body"]["error"]["message"]


def test_function_mode_answers_the_history_fc_has_let_through(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given the default function mode (FC checked the caller's signature before the function ran)
    invoke(request([JOB]))
    # when the history is asked for with no signature of ours, behind a custom-domain prefix
    response = invoke(history_get(JOB, prefix="/ehpc"))
    # then it is answered
    assert response["statusCode"] == 200
    assert [e["status"] for e in response["body"]["reruns"]] == ["rerun"]


def test_get_health_stays_open_in_anonymous_mode_next_to_the_signed_history(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given an anonymous trigger, when GET /health arrives unsigned
    settings_env(http_auth="anonymous", http_secret=SHARED)
    response = invoke(http_event(None, method="GET", path="/health", content_type=None))
    # then it answers as before
    assert (response["statusCode"], response["body"]["status"]) == (200, "ok")


def test_an_invalid_cluster_or_job_id_is_a_400_naming_each_field(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given ids no job can have (FC passes the path percent-decoded), and a region that is no region id
    bad_cluster = invoke(history_get(JOB, cluster="not-a-cluster"))
    bad_all = invoke(history_get(" x ", cluster="nope", query={"region": "Mars!"}))
    # then each is a 400 listing the fields, with nothing read or called
    assert code_of(bad_cluster) == (400, "InvalidRequest")
    assert [f["field"] for f in bad_cluster["body"]["error"]["fields"]] == ["cluster_id"]
    assert [f["field"] for f in bad_all["body"]["error"]["fields"]] == ["cluster_id", "job_id", "region"]
    assert sim.calls == []
