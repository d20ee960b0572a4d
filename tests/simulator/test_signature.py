"""The simulator's server-side V3 verifier against the documented vector and the SDK's own signer."""

from __future__ import annotations

import hashlib
from calendar import timegm
from collections.abc import Callable
from time import gmtime, strftime, strptime
from urllib.parse import parse_qsl, urlencode

from alibabacloud_tea_openapi.utils import Utils as SdkUtils
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehpc_rerun.simulator import signature as sig

AK, SECRET, TOKEN = "test-ak-id", "test-secret-not-real", "test-sts-token"
EMPTY = hashlib.sha256(b"").hexdigest()
DATE = "2024-05-01T08:00:00Z"
NOW = float(timegm(strptime(DATE, "%Y-%m-%dT%H:%M:%SZ")))

# ehpc-api.md §1.1: the official worked example.
DOC_QUERY = [
    ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
    ("RegionId", "cn-shanghai"),
]
DOC_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-version": "2014-05-26",
    "x-acs-date": "2023-10-26T10:22:32Z",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-content-sha256": EMPTY,
}
DOC_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"


def sdk_signed_headers(
    query: dict[str, str], *, secret: str = SECRET, token: str | None = None
) -> dict[str, str]:
    """Headers exactly as the SDK's do_request builds them, signed by the SDK's own signer."""
    req = DaraRequest()
    req.method, req.pathname, req.query = "GET", "/", dict(query)
    req.headers = {
        "host": "127.0.0.1:8080",
        "x-acs-version": "2018-04-12",
        "x-acs-action": "RerunJobs",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11 Core/0.4.3 TeaDSL/2",
        "x-acs-date": DATE,
        "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
        "accept": "application/json",
        "x-acs-content-sha256": EMPTY,
        "x-acs-credentials-provider": "static_sts" if token else "static_ak",
    }
    if token:
        req.headers["x-acs-accesskey-id"] = AK
        req.headers["x-acs-security-token"] = token
    req.headers["Authorization"] = SdkUtils.get_authorization(req, "ACS3-HMAC-SHA256", EMPTY, AK, secret)
    return dict(req.headers)


def server_verify(
    query: dict[str, str],
    headers: dict[str, str],
    *,
    now: float,
    token_lookup: Callable[[str], str | None] | None = None,
) -> sig.VerifyResult:
    """What the simulator does: decode the wire query (``+`` = space), then verify."""
    wire = urlencode(query)  # the SDK's URL: quote_plus
    pairs = parse_qsl(wire, keep_blank_values=True)
    secrets = {AK: SECRET}
    return sig.verify(
        "GET", "/", pairs, headers.items(), b"", secrets.get, token_lookup=token_lookup, now=now
    )


def test_documented_vector_reproduces_string_to_sign_and_signature() -> None:
    # Given the documented inputs, when the canonical request is built and signed
    block, signed = sig.canonical_headers(DOC_HEADERS.items(), DOC_HEADERS.keys()) or ("", "")
    canonical = sig.canonical_request(
        "POST", "/", DOC_QUERY, canonical_headers_block=block, signed_headers=signed, hashed_payload=EMPTY
    )
    to_sign = sig.string_to_sign(canonical)
    # Then both documented values come out
    assert to_sign == "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    assert sig.sign("YourAccessKeySecret", to_sign) == DOC_SIGNATURE
    assert signed == "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    assert "\n\nhost;x-acs-action" in canonical  # the documented blank line before SignedHeaders


def test_documented_authorization_header_is_accepted_by_verify() -> None:
    # Given the documented request with its documented Authorization header
    headers = dict(DOC_HEADERS)
    headers["Authorization"] = (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
        f"x-acs-date;x-acs-signature-nonce;x-acs-version,Signature={DOC_SIGNATURE}"
    )
    # When verified with the documented secret and at the documented time
    now = float(timegm(strptime("2023-10-26T10:22:32Z", "%Y-%m-%dT%H:%M:%SZ")))
    result = sig.verify(
        "POST", "/", DOC_QUERY, headers.items(), b"", {"YourAccessKeyId": "YourAccessKeySecret"}.get, now=now
    )
    # Then it is valid and the nonce is handed back for replay tracking
    assert result.ok and result.signature_valid, result
    assert result.access_key_id == "YourAccessKeyId"
    assert result.nonce == "3156853299f313e23d1673dc12e1703d"


def test_canonical_query_uses_rfc3986_not_form_encoding() -> None:
    # Given decoded values with space, star, tilde, slash and non-ASCII
    pairs = [("b", "x y*~/"), ("a", "é"), ("Jobs", '[{"Id": "1"}]')]
    # Then keys are sorted and values percent-encoded (%20 not +, %2A, ~ kept)
    assert sig.canonical_query_string(pairs) == (
        "Jobs=%5B%7B%22Id%22%3A%20%221%22%7D%5D&a=%C3%A9&b=x%20y%2A~%2F"
    )


def test_sdk_signed_rerun_with_awkward_job_id_verifies_after_form_decoding() -> None:
    # Given the observed wire form of Jobs=[{"Id": "a b~*"}] (ehpc-api.md §1.2)
    query = {"Async": "True", "ClusterId": "ehpc-hz-1", "Jobs": '[{"Id": "a b~*"}]'}
    assert "Jobs=%5B%7B%22Id%22%3A+%22a+b~%2A%22%7D%5D" in urlencode(query)
    headers = sdk_signed_headers(query, token=TOKEN)
    # When the server verifies it
    result = server_verify(query, headers, token_lookup={AK: TOKEN}.get, now=NOW)
    # Then it matches the SDK's signature, and accept/user-agent/STS headers were part of it
    assert result.ok, result
    assert result.expected_signature == headers["Authorization"].rsplit("Signature=", 1)[1]
    assert {"accept", "user-agent", "x-acs-security-token", "x-acs-accesskey-id"} <= set(
        result.signed_headers
    )
    assert result.security_token == TOKEN


@settings(max_examples=150, deadline=None)
@given(job_id=st.text(min_size=1, max_size=40))
def test_any_job_id_the_sdk_signs_is_verified(job_id: str) -> None:
    query = {"ClusterId": "ehpc-hz-1", "Jobs": f'[{{"Id": "{job_id}"}}]'}
    assert server_verify(query, sdk_signed_headers(query), now=NOW).ok


def test_wrong_secret_is_signature_does_not_match() -> None:
    query = {"ClusterId": "c1", "Jobs": '[{"Id": "1"}]'}
    result = server_verify(query, sdk_signed_headers(query, secret="not-the-secret"), now=NOW)
    assert (result.ok, result.status, result.code, result.signature_valid) == (
        False,
        400,
        "SignatureDoesNotMatch",
        False,
    )


def test_tampering_with_a_signed_header_or_query_value_breaks_the_signature() -> None:
    query = {"ClusterId": "c1", "Jobs": '[{"Id": "1"}]'}
    headers = sdk_signed_headers(query)
    assert server_verify(query, {**headers, "user-agent": "curl/8"}, now=NOW).code == "SignatureDoesNotMatch"
    assert server_verify({**query, "ClusterId": "c2"}, headers, now=NOW).code == "SignatureDoesNotMatch"


def test_body_hash_must_match_the_body_received() -> None:
    query = {"ClusterId": "c1"}
    headers = sdk_signed_headers(query)
    result = sig.verify("GET", "/", query.items(), headers.items(), b"x", {AK: SECRET}.get, now=NOW)
    assert result.code == "SignatureDoesNotMatch"
    assert "x-acs-content-sha256" in (result.message or "")


def test_missing_or_malformed_authorization_is_incomplete_signature() -> None:
    query = {"ClusterId": "c1"}
    headers = sdk_signed_headers(query)
    del headers["Authorization"]
    assert server_verify(query, headers, now=NOW).code == "IncompleteSignature"
    headers["Authorization"] = "ACS3-HMAC-SHA256 Credential=test-ak-id"
    assert server_verify(query, headers, now=NOW).code == "IncompleteSignature"
    assert sig.parse_authorization("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=ff") == (
        sig.Authorization("ACS3-HMAC-SHA256", "a", ("host",), "ff")
    )


def test_unknown_access_key_is_404_not_found() -> None:
    query = {"ClusterId": "c1"}
    no_keys: dict[str, str] = {}
    headers = sdk_signed_headers(query)
    result = sig.verify("GET", "/", query.items(), headers.items(), b"", no_keys.get, now=NOW)
    assert (result.status, result.code) == (404, "InvalidAccessKeyId.NotFound")


def test_an_unsigned_x_acs_header_is_rejected_even_if_the_signature_matches() -> None:
    query = {"ClusterId": "c1"}
    headers = sdk_signed_headers(query)
    headers["x-acs-security-token"] = TOKEN  # added after signing: not in SignedHeaders
    result = server_verify(query, headers, now=NOW)
    assert result.code == "IncompleteSignature"
    assert "x-acs-security-token" in (result.message or "")


def test_date_more_than_15_minutes_off_is_expired_but_14_minutes_is_fine() -> None:
    query = {"ClusterId": "c1"}
    headers = sdk_signed_headers(query)
    assert server_verify(query, headers, now=NOW + 14 * 60).ok
    late = server_verify(query, headers, now=NOW + 16 * 60)
    early = server_verify(query, headers, now=NOW - 16 * 60)
    assert late.code == early.code == "InvalidTimeStamp.Expired"
    bad = sdk_signed_headers(query)
    bad["x-acs-date"] = strftime("%Y/%m/%d", gmtime(NOW))
    assert server_verify(query, bad, now=NOW).code == "InvalidTimeStamp.Format"


def test_sts_token_required_missing_or_different() -> None:
    query = {"ClusterId": "c1"}
    tokens = {AK: TOKEN}.get
    plain = server_verify(query, sdk_signed_headers(query), token_lookup=tokens, now=NOW)
    assert (plain.code, plain.signature_valid) == ("MissingSecurityToken", True)
    other = server_verify(
        query, sdk_signed_headers(query, token="test-other-token"), token_lookup=tokens, now=NOW
    )
    assert other.code == "InvalidSecurityToken.MismatchWithAccessKey"
    assert server_verify(query, sdk_signed_headers(query, token=TOKEN), token_lookup=tokens, now=NOW).ok


def test_repeated_headers_are_trimmed_sorted_and_comma_joined() -> None:
    block, signed = sig.canonical_headers([("X-A", " b "), ("x-a", "a"), ("Host", "h")], ["x-a", "host"]) or (
        "",
        "",
    )
    assert block == "host:h\nx-a:a,b\n"
    assert signed == "host;x-a"
    assert sig.canonical_headers([("host", "h")], ["host", "x-missing"]) is None
