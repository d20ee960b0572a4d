"""The FC 3.0 HTTP trigger source: bodies, CloudMonitor callbacks, early replies and both auth modes."""

from __future__ import annotations

import base64
import json
import time

import pytest
from pydantic import SecretStr

from ehpc_rerun import __version__
from ehpc_rerun.models import Acknowledged, RecordError, RerunRequest, SourceKind
from ehpc_rerun.settings import Settings
from ehpc_rerun.sources import http_auth

from .conftest import (
    ALERT_TOKEN,
    CLUSTER,
    HTTP_SECRET,
    acks_of,
    alert_form,
    errors_of,
    http_event,
    jobs,
    load_event,
    request_body,
    requests_of,
    unwrap,
)


def signed_headers(
    body: str | bytes,
    *,
    secret: str = HTTP_SECRET,
    at: float | None = None,
    method: str = "POST",
    path: str = "/rerun",  # http_event's default path
) -> dict[str, str]:
    raw = body.encode() if isinstance(body, str) else body
    timestamp = str(int(time.time() if at is None else at))
    return {
        "X-Ehpc-Rerun-Timestamp": timestamp,
        "X-Ehpc-Rerun-Signature": http_auth.sign(secret, timestamp, raw, method=method, path=path),
    }


def error_code(unwrapped: object) -> tuple[int, str, str]:
    reply = unwrapped.reply  # type: ignore[attr-defined]
    assert reply is not None, "expected an early HTTP reply"
    return reply.status, reply.body["error"]["code"], reply.body["error"]["message"]


# --- bodies ---------------------------------------------------------------------------------------


def test_json_body_in_our_form_becomes_a_request() -> None:
    # given the sample HTTP trigger event with a JSON request body
    # when it is unwrapped
    result = unwrap(load_event("http-json-request.json"))
    # then one request for both jobs, tagged with FC's request id, and no early reply
    assert result.kind is SourceKind.HTTP
    assert result.http is True
    assert result.reply is None
    [req] = requests_of(result)
    assert req.cluster_id == "ehpc-hz-demo01"
    assert req.job_ids == ("1.scheduler", "2.scheduler")
    assert req.reason == "MPI ranks stopped writing checkpoints"
    assert req.source is SourceKind.HTTP
    assert req.source_id == "1-6743f2a1-0a1b2c3d4e5f60718293a4b5"


def test_json_body_in_the_api_form_becomes_a_request() -> None:
    # given the sample event whose body is {"ClusterId", "Jobs": [{"Id"}]}
    result = unwrap(load_event("http-api-form.json"))
    # then it is translated into our form
    assert jobs(result) == [("ehpc-hz-demo01", ("3.scheduler",))]
    assert result.records == requests_of(result)


def test_json_list_body_yields_one_record_per_request() -> None:
    # given a body that is a list of two requests, one of them invalid
    body = json.dumps(
        [{"cluster_id": CLUSTER, "job_ids": ["1.s"]}, {"cluster_id": "bad", "job_ids": ["2.s"]}]
    )
    result = unwrap(http_event(body))
    # then the valid one is a request and the invalid one an error with its index
    assert jobs(result) == [(CLUSTER, ("1.s",))]
    [err] = errors_of(result)
    assert (err.index, err.cluster_id, err.job_ids) == (1, "bad", ("2.s",))


def test_structured_json_content_type_is_accepted() -> None:
    # given a +json media type with parameters
    result = unwrap(
        http_event(request_body(["5.s"]), content_type="application/merge-patch+json; charset=utf-8")
    )
    # then the body is read as JSON
    assert jobs(result) == [(CLUSTER, ("5.s",))]


def test_scan_body_requests_a_detector_scan() -> None:
    # given {"scan": {...}} as the whole body
    result = unwrap(http_event(json.dumps({"scan": {"clusters": [CLUSTER]}})))
    # then no records, and the scan request is passed on
    assert result.records == []
    assert result.scan == {"clusters": [CLUSTER]}
    assert result.reply is None


def test_json_null_body_is_an_error_record() -> None:
    # given the body "null"
    result = unwrap(http_event("null"))
    # then one error record saying the body is empty
    [err] = result.records
    assert isinstance(err, RecordError)
    assert err.message == "the body is empty"


# --- CloudMonitor callbacks -----------------------------------------------------------------------


def test_cloudmonitor_callback_base64_sample_becomes_a_request() -> None:
    # given the sample CloudMonitor ALERT callback (form-urlencoded, Base64 body)
    result = unwrap(load_event("http-cloudmonitor-callback.json"))
    # then one CloudMonitor request for the job named in the dimensions
    assert result.kind is SourceKind.CLOUDMONITOR
    assert result.http is True
    [req] = result.records
    assert isinstance(req, RerunRequest)
    assert (req.cluster_id, req.job_ids) == ("ehpc-hz-demo01", ("4.scheduler",))
    assert req.source is SourceKind.CLOUDMONITOR
    assert req.source_id == "53767d2a-ae72-11ed-b2ca-00163e2c0001"
    assert req.region == "cn-hangzhou"
    assert (
        req.reason
        == "CloudMonitor alert 'E-HPC job heartbeat stalled': job_heartbeat $Maximum<=0 (current 0)"
    )


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_cloudmonitor_callback_plain_and_base64_give_the_same_request(base64_body: bool) -> None:
    # given an ALERT callback built by hand, sent plain or Base64-encoded
    event = http_event(
        alert_form(job="7.scheduler"),
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
        base64_body=base64_body,
    )
    # when unwrapped
    result = unwrap(event)
    # then the same request either way
    assert result.kind is SourceKind.CLOUDMONITOR
    assert jobs(result) == [(CLUSTER, ("7.scheduler",))]
    assert requests_of(result)[0].source_id == "53767d2a-ae72-11ed-b2ca-00163e2c0099"


def test_form_body_without_content_type_is_recognised_as_a_callback() -> None:
    # given a callback body and no Content-Type header at all
    result = unwrap(http_event(alert_form(), content_type=None))
    # then it is still read as a CloudMonitor alert
    assert result.kind is SourceKind.CLOUDMONITOR
    assert jobs(result) == [(CLUSTER, ("4.scheduler",))]


def test_cloudmonitor_ok_sample_is_acknowledged_without_rerun() -> None:
    # given the sample callback with alertState=OK
    result = unwrap(load_event("http-cloudmonitor-ok.json"))
    # then it is acknowledged, nothing to rerun
    [ack] = result.records
    assert isinstance(ack, Acknowledged)
    assert (ack.cluster_id, ack.job_ids) == ("ehpc-hz-demo01", ("99.scheduler",))
    assert ack.message == "alert 'E-HPC job heartbeat stalled' is OK: no action"
    assert requests_of(result) == []


def test_cloudmonitor_insufficient_data_is_acknowledged() -> None:
    # given a callback with alertState=INSUFFICIENT_DATA
    result = unwrap(
        http_event(alert_form("INSUFFICIENT_DATA"), content_type="application/x-www-form-urlencoded")
    )
    # then acknowledged with that state named
    [ack] = acks_of(result)
    assert ack.message == "alert 'E-HPC job heartbeat stalled' is INSUFFICIENT_DATA: no action"
    assert requests_of(result) == []


def test_cloudmonitor_unknown_state_is_an_error() -> None:
    # given a callback with an alertState CloudMonitor does not send
    result = unwrap(http_event(alert_form("MAYBE"), content_type="application/x-www-form-urlencoded"))
    # then an error naming the field
    [err] = errors_of(result)
    assert err.code == "InvalidAlert"
    assert err.errors[0].field == "alertState"
    assert "got 'MAYBE'" in err.message


def test_cloudmonitor_callback_without_job_dimension_is_an_error() -> None:
    # given an ALERT whose dimensions name no job (a plain ECS alert)
    body = alert_form()
    body = body.replace("jobId%3D4.scheduler", "instanceId%3Di-8psdh7l6")
    result = unwrap(http_event(body, content_type="application/x-www-form-urlencoded"))
    # then an error telling the operator to add the dimensions to the rule
    [err] = errors_of(result)
    assert err.errors[0].field == "dimensions"
    assert "add them to the alert rule" in err.message


def test_form_with_too_many_fields_is_an_error_record_not_a_crash() -> None:
    # given a form body with more fields than parse_qsl is allowed to read (regression: ValueError escaped)
    body = "&".join(f"f{i}=x" for i in range(300)) + "&alertState=ALERT"
    result = unwrap(http_event(body, content_type="application/x-www-form-urlencoded"))
    # then one error record, no exception
    [err] = result.records
    assert isinstance(err, RecordError)
    assert err.code == "InvalidAlert"
    assert "more than 200 form fields" in err.message


# --- early replies --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "get"])
@pytest.mark.parametrize("path", ["/health", "/health/", "/2023-03-30/functions/f/health", "/ehpc/health"])
def test_health_check_replies_200_without_records(method: str, path: str) -> None:
    # given GET (or HEAD) on /health, with or without a prefix (custom-domain route, invoke API path)
    result = unwrap(http_event(None, method=method, path=path, content_type=None))
    # then a 200 reply with exactly the health body, and nothing to process
    assert result.reply is not None
    assert result.reply.status == 200
    assert result.reply.body == {"status": "ok", "service": "ehpc-rerun", "version": __version__}
    assert result.records == []


@pytest.mark.parametrize("path", ["/", "", "/rerun", "/healthz", "/health/x", "/my-health", "/HEALTH"])
def test_get_on_a_path_the_readme_does_not_list_is_404(path: str) -> None:
    # given GET on a path other than /health (regression: GET / answered 200 like /health)
    result = unwrap(http_event(None, method="GET", path=path, content_type=None))
    # then 404 with the JSON error naming what GET serves
    status, code, message = error_code(result)
    assert (status, code) == (404, "NotFound")
    assert message == "GET serves only /health and /jobs/{cluster_id}/{job_id}; send rerun requests with POST"
    assert result.records == []


def test_the_decoded_path_decides_the_route() -> None:
    # given FC's URL-encoded rawPath and the decoded requestContext.http.path (fc-events.md §2.1)
    event = http_event(None, method="GET", path="/health", content_type=None)
    event["rawPath"] = "/%68ealth"
    # then the decoded path is the one routed
    assert unwrap(event).reply.status == 200  # type: ignore[union-attr]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405_with_allow_header(method: str) -> None:
    # given a request body sent with a method other than POST
    result = unwrap(http_event(request_body(["1.s"]), method=method))
    # then 405 naming the allowed methods, and no records
    status, code, _ = error_code(result)
    assert (status, code) == (405, "MethodNotAllowed")
    assert result.reply is not None and result.reply.headers == {"Allow": "POST, GET"}
    assert result.records == []


@pytest.mark.parametrize(
    "ctype", ["application/xml", "multipart/form-data; boundary=x", "text/html", "image/png"]
)
def test_unknown_content_type_is_415(ctype: str) -> None:
    # given a JSON request body labelled with a type that is neither JSON, form nor unlabelled
    result = unwrap(http_event(request_body(["1.s"]), content_type=ctype))
    # then 415 naming the type and what to send
    status, code, message = error_code(result)
    assert (status, code) == (415, "UnsupportedMediaType")
    assert repr(ctype.split(";")[0]) in message
    assert "application/json" in message


@pytest.mark.parametrize(
    "ctype",
    ["application/octet-stream", "text/plain", "text/plain; charset=utf-8", "Application/Octet-Stream", None],
)
@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_json_body_without_a_json_content_type_is_read_as_json(ctype: str | None, base64_body: bool) -> None:
    # given a JSON request sent as octet-stream (FC's console test events), text/plain or with no type
    event = http_event(request_body(["1.s", "2.s"]), content_type=ctype, base64_body=base64_body)
    # when unwrapped
    result = unwrap(event)
    # then it is an HTTP request like one sent as application/json
    assert result.reply is None
    assert result.kind is SourceKind.HTTP
    assert jobs(result) == [(CLUSTER, ("1.s", "2.s"))]


@pytest.mark.parametrize("ctype", ["application/octet-stream", "text/plain"])
@pytest.mark.parametrize("body", ["haha", alert_form(), "{not json"])
def test_non_json_body_labelled_octet_stream_or_text_keeps_its_415(ctype: str, body: str) -> None:
    # given a body that is not JSON (FC's template body "haha", a form, broken JSON) with such a type
    status, code, message = error_code(unwrap(http_event(body, content_type=ctype)))
    # then 415, saying the type is accepted only for JSON bodies; a form needs its own content type
    assert (status, code) == (415, "UnsupportedMediaType")
    assert message.startswith(f"content type {ctype!r} is not accepted for a body that is not JSON")
    assert "application/x-www-form-urlencoded" in message


def test_unlabelled_form_body_is_still_a_cloudmonitor_callback() -> None:
    # given a CloudMonitor callback body with no Content-Type header
    result = unwrap(http_event(alert_form(job="6.scheduler"), content_type=None))
    # then it is read as the form it is
    assert result.kind is SourceKind.CLOUDMONITOR
    assert jobs(result) == [(CLUSTER, ("6.scheduler",))]


def test_unlabelled_body_that_is_neither_json_nor_form_is_400() -> None:
    status, code, _ = error_code(unwrap(http_event("haha", content_type=None)))
    assert (status, code) == (400, "InvalidJson")


@pytest.mark.parametrize("name", ["http-octet-stream.json", "http-no-content-type.json"])
def test_unlabelled_samples_become_requests(name: str) -> None:
    # given the samples: FC's console test event shape (octet-stream) and a body with no content type
    result = unwrap(load_event(name))
    # then each is one HTTP request tagged with FC's request id
    [req] = requests_of(result)
    assert result.reply is None
    assert req.source is SourceKind.HTTP
    assert req.source_id is not None and req.source_id.startswith("1-6743f2a1-")
    assert req.cluster_id == "ehpc-hz-demo01"


SMALL = Settings(http_max_body_bytes=1024)


def _json_body_of_size(size: int) -> bytes:
    base = request_body(["1.s"], reason="")
    padded = base[:-1] + " " * (size - len(base)) + "}"
    assert len(padded) == size
    return padded.encode()


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_body_one_byte_over_the_limit_is_413(base64_body: bool) -> None:
    # given a body of http_max_body_bytes + 1 bytes (decoded size when Base64)
    event = http_event(_json_body_of_size(1025), base64_body=base64_body)
    # then 413 naming the limit
    status, code, message = error_code(unwrap(event, SMALL))
    assert (status, code) == (413, "PayloadTooLarge")
    assert "1024 bytes" in message


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_body_far_over_the_limit_is_413_before_decoding(base64_body: bool) -> None:
    event = http_event(b"x" * 100_000, base64_body=base64_body)
    assert error_code(unwrap(event, SMALL))[:2] == (413, "PayloadTooLarge")


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
def test_body_exactly_at_the_limit_is_accepted(base64_body: bool) -> None:
    result = unwrap(http_event(_json_body_of_size(1024), base64_body=base64_body), SMALL)
    assert result.reply is None
    assert jobs(result) == [(CLUSTER, ("1.s",))]


@pytest.mark.parametrize("body", ["{not json", '{"cluster_id": ', "\u00ff\u00fe", "[" * 5000])
def test_invalid_json_body_is_400(body: str) -> None:
    status, code, message = error_code(unwrap(http_event(body)))
    assert (status, code, message) == (400, "InvalidJson", "the body is not valid JSON")


def test_base64_flag_with_invalid_base64_is_400() -> None:
    event = http_event("not base64!!")
    event["isBase64Encoded"] = True
    status, code, _ = error_code(unwrap(event))
    assert (status, code) == (400, "InvalidBody")


def test_malformed_http_event_is_a_400_naming_the_field() -> None:
    # given an HTTP-shaped event whose requestContext lacks the http object
    event = http_event(request_body(["1.s"]))
    del event["requestContext"]["http"]
    status, code, message = error_code(unwrap(event))
    assert (status, code) == (400, "InvalidEvent")
    assert "requestContext.http" in message


# --- anonymous mode: shared-secret signatures -----------------------------------------------------


def test_anonymous_without_secret_refuses_and_names_the_variable() -> None:
    # given an anonymous trigger with no shared secret configured
    settings = Settings(http_auth="anonymous")
    # when even a signed request arrives
    body = request_body(["1.s"])
    result = unwrap(http_event(body, headers=signed_headers(body)), settings)
    # then 401 and a message that names EHPC_RERUN_HTTP_SECRET
    status, code, message = error_code(result)
    assert (status, code) == (401, "HttpSecretNotConfigured")
    assert "EHPC_RERUN_HTTP_SECRET" in message
    assert result.records == []


def test_anonymous_with_correct_signature_is_accepted_with_a_replay_key(anonymous: Settings) -> None:
    # given a request signed with the shared secret just now
    body = request_body(["1.s", "2.s"])
    headers = signed_headers(body)
    # when unwrapped
    result = unwrap(http_event(body, headers=headers), anonymous)
    # then accepted, with a replay key derived from the signature
    assert result.reply is None
    assert jobs(result) == [(CLUSTER, ("1.s", "2.s"))]
    assert result.replay_key == f"http-replay:{headers['X-Ehpc-Rerun-Signature']}"


def test_anonymous_signature_headers_are_case_insensitive_and_hex_case_free(anonymous: Settings) -> None:
    body = request_body(["1.s"])
    headers = signed_headers(body)
    lower = {
        "x-ehpc-rerun-timestamp": headers["X-Ehpc-Rerun-Timestamp"],
        "X-EHPC-RERUN-SIGNATURE": headers["X-Ehpc-Rerun-Signature"].upper(),
    }
    result = unwrap(http_event(body, headers=lower), anonymous)
    assert result.reply is None
    assert jobs(result) == [(CLUSTER, ("1.s",))]


def test_anonymous_signature_covers_the_decoded_base64_body(anonymous: Settings) -> None:
    # given a Base64-encoded body signed over its decoded bytes
    body = request_body(["3.s"])
    result = unwrap(http_event(body, headers=signed_headers(body), base64_body=True), anonymous)
    assert jobs(result) == [(CLUSTER, ("3.s",))]


def test_anonymous_wrong_signature_is_401(anonymous: Settings) -> None:
    # given a signature made with another secret
    body = request_body(["1.s"])
    headers = signed_headers(body, secret="another-secret-not-real-0123456789")
    status, code, _ = error_code(unwrap(http_event(body, headers=headers), anonymous))
    assert (status, code) == (401, "SignatureDoesNotMatch")


def test_anonymous_signature_of_another_body_is_401(anonymous: Settings) -> None:
    # given a valid signature of one body, sent with a different body
    headers = signed_headers(request_body(["1.s"]))
    result = unwrap(http_event(request_body(["999.s"]), headers=headers), anonymous)
    assert error_code(result)[:2] == (401, "SignatureDoesNotMatch")
    assert result.records == []


@pytest.mark.parametrize(
    ("signed_for", "sent_to"),
    [
        ("/rerun", "/other"),
        ("/", "/rerun"),
        ("/rerun", "/rerun/"),
        ("/ehpc/rerun", "/rerun"),
        ("/Rerun", "/rerun"),
    ],
)
def test_anonymous_signature_made_for_another_path_is_401(
    anonymous: Settings, signed_for: str, sent_to: str
) -> None:
    # given a request signed for one path
    body = request_body(["1.s"])
    headers = signed_headers(body, path=signed_for)
    # when it is sent to another path
    result = unwrap(http_event(body, headers=headers, path=sent_to), anonymous)
    # then refused with the code, and nothing reaches the pipeline
    status, code, message = error_code(result)
    assert (status, code) == (401, "SignatureDoesNotMatch")
    assert "<METHOD>" in message and "<path>" in message
    assert result.records == []


def test_anonymous_signature_made_for_a_get_is_401_on_a_post(anonymous: Settings) -> None:
    # given a signature made for GET on the same path (over the empty body a GET has, and over this body)
    body = request_body(["1.s"])
    for signed_body in ("", body):
        headers = signed_headers(signed_body, method="GET")
        # when used on a POST
        result = unwrap(http_event(body, headers=headers), anonymous)
        # then refused
        assert error_code(result)[:2] == (401, "SignatureDoesNotMatch")


def test_anonymous_signature_for_the_path_fc_routes_on_is_accepted(anonymous: Settings) -> None:
    # given FC's decoded requestContext.http.path differing from the URL-encoded rawPath
    body = request_body(["1.s"])
    event = http_event(body, headers=signed_headers(body, path="/ehpc rerun"), path="/ehpc rerun")
    event["rawPath"] = "/ehpc%20rerun"
    # then the signature over the decoded path (the one routes use) is accepted
    assert jobs(unwrap(event, anonymous)) == [(CLUSTER, ("1.s",))]
    # and one over rawPath is not
    event["headers"].update(signed_headers(body, path="/ehpc%20rerun"))
    assert error_code(unwrap(event, anonymous))[:2] == (401, "SignatureDoesNotMatch")


def test_anonymous_raw_path_is_signed_when_fc_gives_no_decoded_path(anonymous: Settings) -> None:
    body = request_body(["1.s"])
    event = http_event(body, headers=signed_headers(body, path="/only-raw"), path="/only-raw")
    event["requestContext"]["http"]["path"] = ""
    assert jobs(unwrap(event, anonymous)) == [(CLUSTER, ("1.s",))]


def test_anonymous_path_with_a_control_character_is_refused(anonymous: Settings) -> None:
    # given a decoded path holding a newline (%0A), which could blur the signed string
    body = request_body(["1.s"])
    result = unwrap(http_event(body, headers=signed_headers(body, path="/a\nb"), path="/a\nb"), anonymous)
    assert error_code(result)[:2] == (400, "InvalidPath")


def test_a_signed_get_is_checked_over_its_method_path_and_empty_body(anonymous: Settings) -> None:
    # given the check a signed GET route (e.g. a history endpoint) makes, and a GET signed for /history
    headers = {k.lower(): v for k, v in signed_headers("", method="GET", path="/history").items()}

    def check(method: str, path: str, body: bytes = b"") -> http_auth.AuthResult:
        return http_auth.check(
            anonymous, method=method, path=path, headers=headers, query={}, body=body, is_alert_callback=False
        )

    # then it passes for GET /history, with a replay key, and for nothing else
    accepted = check("GET", "/history")
    assert accepted.ok and accepted.replay_key == f"http-replay:{headers['x-ehpc-rerun-signature']}"
    for method, path, body in [("GET", "/jobs", b""), ("POST", "/history", b""), ("GET", "/history", b"{}")]:
        refused = check(method, path, body)
        assert (refused.ok, refused.status, refused.code) == (False, 401, "SignatureDoesNotMatch")


def test_get_health_stays_open_in_anonymous_mode(anonymous: Settings) -> None:
    # given an anonymous trigger, when GET /health arrives with no signature at all
    result = unwrap(http_event(None, method="GET", path="/health", content_type=None), anonymous)
    # then it answers 200 (health checks stay open), with no replay key to claim
    assert result.reply is not None and result.reply.status == 200
    assert result.replay_key is None


@pytest.mark.parametrize("offset", [-301, 301, -86_400], ids=["stale", "future", "a-day-old"])
def test_anonymous_timestamp_outside_skew_is_401(anonymous: Settings, offset: int) -> None:
    # given a correctly signed request whose timestamp is outside http_max_skew_s (300 s)
    body = request_body(["1.s"])
    headers = signed_headers(body, at=time.time() + offset)
    status, code, message = error_code(unwrap(http_event(body, headers=headers), anonymous))
    assert (status, code) == (401, "RequestExpired")
    assert "s away from server time" in message


@pytest.mark.parametrize("timestamp", ["nan", "inf", "-inf", "1e400"])
def test_anonymous_non_finite_timestamp_is_401_not_a_crash(anonymous: Settings, timestamp: str) -> None:
    # given a timestamp float() accepts but that is not finite (regression: int(inf) raised OverflowError)
    body = request_body(["1.s"])
    headers = {
        "X-Ehpc-Rerun-Timestamp": timestamp,
        "X-Ehpc-Rerun-Signature": http_auth.sign(HTTP_SECRET, timestamp, body.encode(), path="/rerun"),
    }
    status, code, message = error_code(unwrap(http_event(body, headers=headers), anonymous))
    assert (status, code, message) == (401, "RequestExpired", "timestamp is ? s away from server time")


@pytest.mark.parametrize("timestamp", [f"{int(time.time())}\n", f"\t{int(time.time())}", "1\x00"])
def test_anonymous_timestamp_with_control_characters_is_401(anonymous: Settings, timestamp: str) -> None:
    # given a timestamp float() would read, but with a control character that could blur the signed string
    body = request_body(["1.s"])
    headers = {
        "X-Ehpc-Rerun-Timestamp": timestamp,
        "X-Ehpc-Rerun-Signature": http_auth.sign(HTTP_SECRET, timestamp, body.encode(), path="/rerun"),
    }
    # then refused before any signature check
    assert error_code(unwrap(http_event(body, headers=headers), anonymous))[:2] == (401, "InvalidTimestamp")


def test_anonymous_non_numeric_timestamp_is_401(anonymous: Settings) -> None:
    body = request_body(["1.s"])
    headers = {"X-Ehpc-Rerun-Timestamp": "yesterday", "X-Ehpc-Rerun-Signature": "00"}
    assert error_code(unwrap(http_event(body, headers=headers), anonymous))[:2] == (401, "InvalidTimestamp")


@pytest.mark.parametrize("missing", ["X-Ehpc-Rerun-Timestamp", "X-Ehpc-Rerun-Signature", "both"])
def test_anonymous_missing_signature_headers_is_401(anonymous: Settings, missing: str) -> None:
    body = request_body(["1.s"])
    headers = signed_headers(body)
    for name in list(headers):
        if missing in (name, "both"):
            del headers[name]
    status, code, message = error_code(unwrap(http_event(body, headers=headers), anonymous))
    assert (status, code) == (401, "MissingSignature")
    assert "x-ehpc-rerun-timestamp" in message
    assert "x-ehpc-rerun-signature" in message


# --- anonymous mode: CloudMonitor alert token -----------------------------------------------------

FORM = "application/x-www-form-urlencoded; charset=UTF-8"


def test_alert_token_right_is_accepted_without_a_signature(anonymous: Settings) -> None:
    # given a callback with ?token=<the configured token> and no signature headers
    result = unwrap(http_event(alert_form(), content_type=FORM, query={"token": ALERT_TOKEN}), anonymous)
    # then accepted as a CloudMonitor request
    assert result.reply is None
    assert result.kind is SourceKind.CLOUDMONITOR
    assert jobs(result) == [(CLUSTER, ("4.scheduler",))]


@pytest.mark.parametrize(
    "query", [{}, {"token": ""}, {"token": ALERT_TOKEN[:-1]}, {"token": ALERT_TOKEN + "x"}]
)
def test_alert_token_missing_or_wrong_is_401(anonymous: Settings, query: dict[str, str]) -> None:
    result = unwrap(http_event(alert_form(), content_type=FORM, query=query), anonymous)
    status, code, _ = error_code(result)
    assert (status, code) == (401, "InvalidToken")
    assert result.records == []


@pytest.mark.parametrize("token", [None, "short-token-not-real", "x" * 31])
def test_alert_token_not_configured_or_too_short_refuses_every_callback(token: str | None) -> None:
    # given an anonymous trigger whose alert token is unset or shorter than 32 characters
    settings = Settings(
        http_auth="anonymous",
        http_secret=SecretStr(HTTP_SECRET),
        http_alert_token=SecretStr(token) if token else None,
    )
    # when a callback carries exactly that token
    query = {"token": token} if token else {}
    status, code, message = error_code(
        unwrap(http_event(alert_form(), content_type=FORM, query=query), settings)
    )
    # then refused, naming the variable and the minimum length
    assert (status, code) == (401, "AlertTokenNotConfigured")
    assert "EHPC_RERUN_HTTP_ALERT_TOKEN" in message
    assert "32 characters" in message


def test_alert_token_does_not_authorise_a_json_request(anonymous: Settings) -> None:
    # given a JSON request that carries the alert token but no signature
    result = unwrap(http_event(request_body(["1.s"]), query={"token": ALERT_TOKEN}), anonymous)
    # then the signature is still required
    assert error_code(result)[:2] == (401, "MissingSignature")


# --- function mode --------------------------------------------------------------------------------


def test_function_mode_accepts_unsigned_requests_and_callbacks(settings: Settings) -> None:
    # given the default auth mode (FC checks the caller's signature before the function runs)
    assert settings.http_auth == "function"
    # when an unsigned JSON request and an unsigned callback arrive
    request = unwrap(http_event(request_body(["1.s"])), settings)
    callback = unwrap(http_event(alert_form(), content_type=FORM), settings)
    # then both are accepted with no replay key to claim
    assert jobs(request) == [(CLUSTER, ("1.s",))]
    assert jobs(callback) == [(CLUSTER, ("4.scheduler",))]
    assert request.replay_key is None and callback.replay_key is None


def test_sign_is_hex_hmac_sha256_of_timestamp_method_path_and_body_on_lines() -> None:
    import hashlib
    import hmac

    # given the documented string: timestamp, method, path, each on its line, then the body
    expected = hmac.new(HTTP_SECRET.encode(), b"1700000000\nPOST\n/rerun\n{}", hashlib.sha256).hexdigest()
    # then sign() computes exactly that, in lower-case hex of 32 bytes
    assert http_auth.sign(HTTP_SECRET, "1700000000", b"{}", method="post", path="/rerun") == expected
    assert len(base64.b16decode(expected.upper())) == 32
    # and a GET is signed over an empty body, the defaults being POST and /
    get = hmac.new(HTTP_SECRET.encode(), b"1700000000\nGET\n/history\n", hashlib.sha256).hexdigest()
    assert http_auth.sign(HTTP_SECRET, "1700000000", b"", method="GET", path="/history") == get
    assert http_auth.string_to_sign("1700000000", "POST", "", b"x") == b"1700000000\nPOST\n/\nx"
    assert http_auth.sign(HTTP_SECRET, "1", b"x") == http_auth.sign(
        HTTP_SECRET, "1", b"x", method="POST", path="/"
    )


def test_the_signed_string_cannot_be_read_two_ways() -> None:
    # given two requests a dot-joined string would confuse: path "/a.b" + body "c", path "/a" + body "b.c"
    one = http_auth.string_to_sign("1700000000", "POST", "/a.b", b"c")
    other = http_auth.string_to_sign("1700000000", "POST", "/a", b"b.c")
    # then their signed strings differ
    assert one != other


# --- hostile header and query values --------------------------------------------------------------------


def test_lone_surrogate_in_the_alert_token_is_401_not_a_crash(anonymous: Settings) -> None:
    # regression: given.encode() raised UnicodeEncodeError before the comparison
    event = json.loads(json.dumps(http_event(alert_form(), content_type=FORM, query={"token": "\ud800"})))
    assert error_code(unwrap(event, anonymous))[:2] == (401, "InvalidToken")


def test_lone_surrogate_in_the_signature_is_401_not_a_crash(anonymous: Settings) -> None:
    body = request_body(["1.s"])
    headers = signed_headers(body)
    headers["X-Ehpc-Rerun-Signature"] = "\ud800"
    assert error_code(unwrap(http_event(body, headers=headers), anonymous))[:2] == (
        401,
        "SignatureDoesNotMatch",
    )


def test_invalid_header_value_is_400_with_an_encodable_message() -> None:
    # given a header whose name is a lone surrogate and whose value is not a string
    event = http_event(request_body(["1.s"]))
    event["headers"]["\ud800"] = 5
    status, code, message = error_code(unwrap(event))
    assert (status, code) == (400, "InvalidEvent")
    assert message.startswith("not a valid HTTP trigger event: headers.")
    message.encode("utf-8")


def test_invalid_header_with_a_huge_name_is_not_echoed_in_full() -> None:
    # regression: the 100 KB header name was echoed into the 400 reply
    event = http_event(request_body(["1.s"]))
    event["headers"]["h" * 100_000] = 5
    status, code, message = error_code(unwrap(event))
    assert (status, code) == (400, "InvalidEvent")
    assert len(message) < 400
