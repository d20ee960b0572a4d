"""MnsTopicSink against FakeMns, which re-verifies everything the real PublishMessage checks."""

from __future__ import annotations

import base64
import json
import time

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import PermanentSinkError, SinkError, TransientSinkError
from ehpc_rerun.models import Status
from ehpc_rerun.sinks.mns import MnsTopicSink, content_md5, signature, string_to_sign

from .fakes import AK, TOKEN, FakeMns
from .reports import build_report, every_status_report, outcome


def sink_for(fake: FakeMns, creds: Credentials, timeout_s: float = 2.0) -> MnsTopicSink:
    return MnsTopicSink(fake.url, fake.topic, creds, timeout_s)


def test_signature_reproduces_the_documented_test_vector() -> None:
    # given the example of the MNS signature doc (doc-detail/175633)
    to_sign = string_to_sign(
        "GET",
        "",
        "",
        "Thu, 09 Jul 2015 03:01:34 GMT",
        mns_headers={"x-mns-version": "2015-06-06"},
        resource="/MyQueue",
    )
    # then the string and the signature are the documented ones
    assert to_sign == "GET\n\n\nThu, 09 Jul 2015 03:01:34 GMT\nx-mns-version:2015-06-06\n/MyQueue"
    assert signature("TestAccessSecret", to_sign) == "uwx3yeWoILzgmvesW0BQSgfM7b8="


def test_content_md5_is_base64_of_the_hex_digest_not_of_the_raw_digest() -> None:
    # md5("abc") = 900150983cd24fb0d6963f7d28e17f72
    assert base64.b64decode(content_md5(b"abc")) == b"900150983cd24fb0d6963f7d28e17f72"


def test_publish_sends_a_signed_message_whose_body_is_the_base64_report(
    mns: FakeMns, creds: Credentials
) -> None:
    # given a report whose most serious status is failed
    report = every_status_report()
    # when it is published
    sink = sink_for(mns, creds)
    sink.publish(report)
    # then the fake accepted exactly one message, signed, with the STS token, tagged "failed"
    assert [r.verdict for r in mns.received] == ["ok"]
    got = mns.received[0]
    assert got.path == "/topics/ehpc-reports/messages"
    assert got.headers["authorization"].startswith(f"MNS {AK}:")
    assert got.headers["security-token"] == TOKEN
    assert got.headers["content-type"] == "text/xml;charset=UTF-8"
    assert got.extra["tag"] == "failed"
    # and the body decodes to exactly the stable report JSON
    assert json.loads(base64.b64decode(got.extra["message_body"])) == report.model_dump(mode="json")
    assert sink.last_message_id == got.extra["message_id"]


def test_publish_without_sts_token_sends_no_security_token_header() -> None:
    # given long-lived keys (no token) and a fake that expects none
    with FakeMns(tokens={}) as fake:
        MnsTopicSink(fake.url, fake.topic, Credentials(AK, "test-secret-not-real"), 2.0).publish(
            build_report([outcome("ehpc-hz-a1", "1.s", Status.RERUN)])
        )
    # then the request carried no security-token and was accepted, tagged "rerun"
    assert fake.received[0].verdict == "ok"
    assert "security-token" not in fake.received[0].headers
    assert fake.received[0].extra["tag"] == "rerun"


def test_wrong_secret_is_rejected_by_the_fake_and_not_worth_retrying(mns: FakeMns) -> None:
    # given a sink signing with the wrong secret
    sink = MnsTopicSink(mns.url, mns.topic, Credentials(AK, "wrong-secret-not-real", TOKEN), 2.0)
    # when it publishes, then the MNS error code comes back as a permanent SinkError
    with pytest.raises(PermanentSinkError) as caught:
        sink.publish(every_status_report())
    assert caught.value.code == "MNS.SignatureDoesNotMatch"
    assert mns.received[0].verdict == "SignatureDoesNotMatch"


def test_error_xml_becomes_a_sink_error_with_code_and_request_id(mns: FakeMns, creds: Credentials) -> None:
    # given the topic does not exist
    mns.error_next(code="TopicNotExist", message="The topic you provided does not exist.", status=404)
    # when publishing, then the error names the MNS code and the request id
    with pytest.raises(PermanentSinkError) as caught:
        sink_for(mns, creds).publish(every_status_report())
    assert caught.value.code == "MNS.TopicNotExist"
    assert "fake-request-id" in caught.value.message
    assert "does not exist" in caught.value.message


def test_server_error_is_transient(mns: FakeMns, creds: Credentials) -> None:
    mns.fail_next(1, status=500)
    with pytest.raises(TransientSinkError) as caught:
        sink_for(mns, creds).publish(every_status_report())
    assert caught.value.code == "MNS.InternalError"


def test_hanging_server_is_cut_off_by_the_timeout(mns: FakeMns, creds: Credentials) -> None:
    # given MNS does not answer for 5 s
    mns.hang_next(1, seconds=5)
    started = time.monotonic()
    # when publishing with a 0.3 s timeout, then it gives up in about that time
    with pytest.raises(TransientSinkError) as caught:
        sink_for(mns, creds, timeout_s=0.3).publish(every_status_report())
    assert caught.value.code == "MNS.Timeout"
    assert time.monotonic() - started < 2


def test_unreachable_endpoint_is_a_transport_error(creds: Credentials) -> None:
    with FakeMns() as fake:
        url = fake.url
    with pytest.raises(SinkError) as caught:
        MnsTopicSink(url, "ehpc-reports", creds, 1.0).publish(every_status_report())
    assert caught.value.code in ("MNS.Transport", "MNS.Timeout")


def test_report_too_big_for_one_message_is_trimmed_to_fit_64kb(mns: FakeMns, creds: Credentials) -> None:
    # given 2 000 jobs, far more than 64 KB of JSON, one of them failed
    outcomes = [outcome("ehpc-hz-a1", f"{i}.sched", Status.RERUN, message="x" * 40) for i in range(2000)]
    outcomes.append(outcome("ehpc-hz-a1", "bad.sched", Status.FAILED, error_code="InvalidClusterStatus"))
    report = build_report(outcomes)
    # when published
    sink_for(mns, creds).publish(report)
    # then MNS accepted it (the fake rejects > 64 KB), the failed job is kept, and the cut is counted
    got = mns.received[0]
    assert got.verdict == "ok"
    assert len(got.extra["message_body"]) <= 65536
    body = json.loads(base64.b64decode(got.extra["message_body"]))
    assert body["outcomes"][0]["job_id"] == "bad.sched"
    assert body["outcomes_truncated"] == 2001 - len(body["outcomes"]) > 0
    assert body["counts"] == {"failed": 1, "rerun": 2000}
