"""The HTTP trigger end to end: status codes, JSON errors (never a traceback), auth modes, replay."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from ehpc_rerun.simulator import Simulator
from ehpc_rerun.sources.http_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.conftest import CLUSTER, http_event, request

SHARED = "test-shared-secret-not-real-0123456789"
ALERT_TOKEN = "test-alert-token-not-real-0123456789abcdef"

Invoke = Callable[..., dict[str, Any]]


def no_traceback(response: dict[str, Any]) -> None:
    assert response["headers"]["Content-Type"].startswith("application/json")
    assert "Traceback" not in json.dumps(response)
    assert response["body"]["request_id"]


def test_valid_request_gets_200_with_per_job_outcomes(sim: Simulator, invoke: Invoke) -> None:
    response = invoke(http_event(json.dumps(request(["1.scheduler", "2.scheduler"]))))
    assert response["statusCode"] == 200
    body = response["body"]
    assert body["counts"] == {"rerun": 2}
    assert [o["job_id"] for o in body["outcomes"]] == ["1.scheduler", "2.scheduler"]
    no_traceback(response)


def test_request_invalid_as_a_whole_gets_400_listing_each_error(sim: Simulator, invoke: Invoke) -> None:
    bad = [{"cluster_id": "nope", "job_ids": []}, {"cluster_id": CLUSTER, "jobs_ids": ["1"]}]
    response = invoke(http_event(json.dumps(bad)))
    assert response["statusCode"] == 400
    errors = response["body"]["errors"]
    assert len(errors) == 2
    fields = {f["field"] for f in errors[0]["fields"]}
    assert fields == {"cluster_id", "job_ids"}
    assert "jobs_ids" in errors[1]["message"]
    assert sim.calls == []
    no_traceback(response)


def test_more_job_ids_than_allowed_is_rejected_before_any_call(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(max_jobs_per_request=3)
    response = invoke(http_event(json.dumps(request([f"{n}.s" for n in range(4)]))))
    assert response["statusCode"] == 400
    assert response["body"]["errors"][0]["code"] == "TooManyJobs"
    assert "EHPC_RERUN_MAX_JOBS_PER_REQUEST" in response["body"]["errors"][0]["message"]
    assert sim.calls == []


def test_partly_valid_batch_gets_207(sim: Simulator, invoke: Invoke) -> None:
    response = invoke(http_event(json.dumps([request(["1.scheduler"]), request(["x"], cluster="bad")])))
    assert response["statusCode"] == 207
    assert response["body"]["counts"] == {"rejected": 1, "rerun": 1}


def test_everything_failing_permanently_gets_502(sim: Simulator, invoke: Invoke) -> None:
    response = invoke(http_event(json.dumps(request(["1.scheduler"], cluster="ehpc-hz-gone99"))))
    assert response["statusCode"] == 502
    assert response["body"]["outcomes"][0]["error_code"] == "ClusterNotFound"


def test_everything_failing_transiently_gets_503_with_retry_after(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(retry_max_attempts=2)
    sim.fail_next("RerunJobs", "ServiceUnavailable", 503, times=2)
    response = invoke(http_event(json.dumps(request(["1.scheduler"]))))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "30"


def test_body_that_is_not_json_gets_400_not_a_traceback(sim: Simulator, invoke: Invoke) -> None:
    response = invoke(http_event("{not json"))
    assert (response["statusCode"], response["body"]["error"]["code"]) == (400, "InvalidJson")
    no_traceback(response)


def test_health_check_answers_without_touching_ehpc(sim: Simulator, invoke: Invoke) -> None:
    response = invoke(http_event("", method="GET", path="/health"))
    assert response["statusCode"] == 200
    assert response["body"]["status"] == "ok"
    assert sim.calls == []


def signed(
    body: str,
    secret: str = SHARED,
    at: float | None = None,
    *,
    signed_for: tuple[str, str] = ("POST", "/rerun"),
    sent_to: str = "/rerun",
) -> dict[str, Any]:
    """A POST to ``sent_to`` whose signature was made for ``signed_for`` (method, path)."""
    timestamp = str(int(at if at is not None else time.time()))
    method, path = signed_for
    signature = sign(secret, timestamp, body.encode(), method=method, path=path)
    return http_event(body, headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}, path=sent_to)


def test_anonymous_mode_without_a_secret_refuses_every_call_and_says_how_to_fix_it(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(http_auth="anonymous")
    response = invoke(http_event(json.dumps(request(["1.scheduler"]))))
    assert response["statusCode"] == 401
    assert "EHPC_RERUN_HTTP_SECRET" in response["body"]["error"]["message"]
    assert sim.calls == []


def test_anonymous_mode_accepts_a_signed_request_once_and_refuses_its_replay(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(http_auth="anonymous", http_secret=SHARED)
    event = signed(json.dumps(request(["1.scheduler"])))
    first = invoke(event)
    replay = invoke(event)
    assert first["statusCode"] == 200
    assert (replay["statusCode"], replay["body"]["error"]["code"]) == (401, "ReplayedRequest")
    assert len(sim.calls_for("RerunJobs")) == 1


def test_anonymous_mode_refuses_wrong_signatures_and_stale_timestamps(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(http_auth="anonymous", http_secret=SHARED, http_max_skew_s=60)
    body = json.dumps(request(["1.scheduler"]))
    wrong = invoke(signed(body, secret="another-secret-not-real-0123456789"))
    stale = invoke(signed(body, at=time.time() - 120))
    tampered = signed(body)
    tampered["body"] = json.dumps(request(["2.scheduler"]))
    assert wrong["body"]["error"]["code"] == "SignatureDoesNotMatch"
    assert stale["body"]["error"]["code"] == "RequestExpired"
    assert invoke(tampered)["body"]["error"]["code"] == "SignatureDoesNotMatch"
    assert sim.calls == []


def test_anonymous_mode_refuses_a_signature_made_for_another_path_or_method(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given a shared secret, and requests signed correctly but for another path or another method
    settings_env(http_auth="anonymous", http_secret=SHARED)
    body = json.dumps(request(["1.scheduler"]))
    other_path = invoke(signed(body, signed_for=("POST", "/rerun"), sent_to="/x/rerun"))
    other_method = invoke(signed(body, signed_for=("GET", "/rerun")))
    # then each is a JSON 401 with the code, and E-HPC is never called
    for response in (other_path, other_method):
        assert (response["statusCode"], response["body"]["error"]["code"]) == (401, "SignatureDoesNotMatch")
        no_traceback(response)
    assert sim.calls == []
    # and the same body signed for the path it is sent to goes through once
    assert invoke(signed(body, signed_for=("POST", "/x/rerun"), sent_to="/x/rerun"))["statusCode"] == 200
    assert len(sim.calls_for("RerunJobs")) == 1


def test_anonymous_mode_leaves_get_health_open(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    # given an anonymous trigger with a secret, when GET /health arrives unsigned, twice
    settings_env(http_auth="anonymous", http_secret=SHARED)
    event = http_event(None, method="GET", path="/health", content_type=None)
    responses = [invoke(event), invoke(event)]
    # then both answer 200 (a health check needs no signature and is no replay), nothing called
    assert [r["statusCode"] for r in responses] == [200, 200]
    assert sim.calls == []


def test_cloudmonitor_callback_needs_the_url_token_in_anonymous_mode(
    sim: Simulator, settings_env: Callable[..., None], invoke: Invoke
) -> None:
    settings_env(http_auth="anonymous", http_secret=SHARED, http_alert_token=ALERT_TOKEN)
    form = urlencode(
        {
            "alertName": "stalled",
            "alertState": "ALERT",
            "dimensions": f"{{clusterId={CLUSTER}, jobId=3.scheduler}}",
        }
    )
    ctype = "application/x-www-form-urlencoded"
    refused = invoke(http_event(form, content_type=ctype, query={"token": "guess"}))
    accepted = invoke(http_event(form, content_type=ctype, query={"token": ALERT_TOKEN}))
    assert refused["statusCode"] == 401
    assert accepted["statusCode"] == 200
    assert sim.rerun_job_ids() == ["3.scheduler"]


def test_http_call_without_credentials_gets_json_500_naming_the_fix(
    sim: Simulator, settings_env: Callable[..., None], no_credentials: None
) -> None:
    # given a function without a role (no context.credentials, no ALIBABA_CLOUD_* variables)
    from ehpc_rerun import app
    from ehpc_rerun.localrun import LocalContext

    event = json.dumps(http_event(json.dumps(request(["1.scheduler"])))).encode()
    response = app.handler(event, LocalContext(credentials=None))

    # then the caller gets JSON with the code and what to do, never a traceback
    body = json.loads(response["body"])
    assert response["statusCode"] == 500
    assert body["error"]["code"] == "MissingCredentials"
    assert "role" in body["error"]["message"]
    assert "Traceback" not in response["body"]
    assert sim.calls_for("RerunJobs") == []


# --- content types and paths (issue 12) -----------------------------------------------------------


@pytest.mark.parametrize("ctype", ["application/octet-stream", "text/plain", None])
def test_json_body_sent_as_octet_stream_text_or_untyped_reaches_ehpc(
    ctype: str | None, sim: Simulator, invoke: Invoke
) -> None:
    # given a JSON request labelled as FC's console test events label it (octet-stream), text, or not at all
    event = http_event(json.dumps(request(["7.scheduler"])), content_type=ctype)
    # when FC delivers it
    response = invoke(event)
    # then it is handled like application/json: one signed RerunJobs call, 200
    assert response["statusCode"] == 200
    assert response["body"]["counts"] == {"rerun": 1}
    assert [(c.cluster_id, c.job_ids) for c in sim.calls_for("RerunJobs")] == [(CLUSTER, ["7.scheduler"])]
    no_traceback(response)


@pytest.mark.parametrize(
    ("ctype", "body"), [("application/octet-stream", "haha"), ("text/plain", "cluster=x"), ("text/csv", "{}")]
)
def test_body_that_cannot_be_read_keeps_its_415(
    ctype: str, body: str, sim: Simulator, invoke: Invoke
) -> None:
    # given a non-JSON body as octet-stream or text (FC's template body is "haha"), or another type
    response = invoke(http_event(body, content_type=ctype))
    # then 415 in JSON, and E-HPC is never called
    assert (response["statusCode"], response["body"]["error"]["code"]) == (415, "UnsupportedMediaType")
    assert sim.calls == []
    no_traceback(response)


@pytest.mark.parametrize("path", ["/", "/rerun", "/healthz", "/jobs"])
def test_get_on_a_path_other_than_health_is_a_json_404(path: str, sim: Simulator, invoke: Invoke) -> None:
    # given GET on a path the README does not list (regression: GET / answered 200 like /health)
    response = invoke(http_event(None, method="GET", path=path, content_type=None))
    # then 404 with the JSON error, nothing called
    assert response["statusCode"] == 404
    assert response["body"]["error"] == {
        "code": "NotFound",
        "message": "GET serves only /health and /jobs/{cluster_id}/{job_id}; send rerun requests with POST",
    }
    assert sim.calls == []
    no_traceback(response)


def test_health_body_is_status_service_and_version(sim: Simulator, invoke: Invoke) -> None:
    # given GET /health behind a path prefix (custom-domain route)
    response = invoke(http_event(None, method="GET", path="/ehpc/health", content_type=None))
    # then exactly this body (plus the request id every reply carries)
    from ehpc_rerun import __version__

    body = dict(response["body"])
    assert body.pop("request_id")
    assert (response["statusCode"], body) == (
        200,
        {"status": "ok", "service": "ehpc-rerun", "version": __version__},
    )
