"""Request checks and response signatures, the way Tablestore checks and the SDK signs and verifies.

What the SDK sends (``tablestore/protocol.py`` ``_make_request_headers``, ``tablestore/auth.py``):
``x-ots-date``, ``x-ots-apiversion``, ``x-ots-accesskeyid``, ``x-ots-instancename``, ``x-ots-contentmd5``
(base64 of the raw MD5 of the body), ``x-ots-ststoken`` when it has one, and either ``x-ots-signature``
(default, HMAC-SHA1 with the secret) or, when the client is given ``region=``, ``x-ots-signdate`` +
``x-ots-signregion`` + ``x-ots-signaturev4`` (HMAC-SHA256 with a key derived from secret, date, region).
The string signed is ``uri \\n POST \\n sorted-query \\n sorted "name:value" lines of the x-ots-* headers
\\n`` (+ ``ots`` for V4).

What the SDK verifies in a response (``protocol.py`` ``_check_headers`` / ``_check_authorization``): 2xx
answers carry ``x-ots-contentmd5``, ``x-ots-requestid``, ``x-ots-date`` (within 15 minutes),
``x-ots-contenttype`` and ``authorization: OTS <akid>:<base64 HMAC-SHA1 over the sorted x-ots-* response
headers + "\\n" + uri>``, keyed with the request's signing key.

The signing is re-implemented here from that reading rather than calling the SDK's signer, so that the
server checks the SDK instead of agreeing with it by construction. Error codes and messages: the
error-code reference, https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes (the
two STS-token messages are ours: the reference lists none, UNVERIFIED).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlparse

from .errors import OTSError, auth_failed, parameter_invalid

API_VERSION = "2015-12-31"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"
MAX_SKEW = dt.timedelta(minutes=15)
REQUIRED_HEADERS = (
    "x-ots-date",
    "x-ots-apiversion",
    "x-ots-accesskeyid",
    "x-ots-instancename",
    "x-ots-contentmd5",
)
SIGNATURE_HEADERS = ("x-ots-signature", "x-ots-signaturev4")


@dataclass(frozen=True)
class ServerCredentials:
    """What a request must present: the key pair, the STS token if one was configured, the instance name."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None
    instance: str
    region: str | None = None  # V4 signing: the region requests must sign for (None: any)

    def __repr__(self) -> str:  # never show the secret or the token
        return f"ServerCredentials(access_key_id={self.access_key_id!r}, instance={self.instance!r})"


def canonical_headers(headers: dict[str, str]) -> str:
    lines = [
        f"{k}:{v.strip()}"
        for k, v in headers.items()
        if k.startswith("x-ots-") and k not in SIGNATURE_HEADERS
    ]
    return "\n".join(sorted(lines))


def _b64_hmac(key: bytes, text: str, digest: str) -> str:
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), digest).digest()).decode("ascii")


def _v4_key(secret: str, sign_date: str, region: str) -> bytes:
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (sign_date, region, "ots", "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), "sha256").digest()
    return base64.b64encode(key)


def _request_string(path: str, headers: dict[str, str]) -> str:
    parsed = urlparse(path)
    query = urlencode(sorted(parse_qsl(parsed.query)))
    return f"{parsed.path}\nPOST\n{query}\n{canonical_headers(headers)}\n"


def _parse_date(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise parameter_invalid(f"Invalid date format: {value}.") from None
    return parsed.replace(tzinfo=dt.timezone.utc)


def verify_request(path: str, headers: dict[str, str], body: bytes, creds: ServerCredentials) -> bytes:
    """Check one request (``headers`` lower-cased); return the key its response must be signed with."""
    for name in REQUIRED_HEADERS:
        if name not in headers:
            raise parameter_invalid(f"Missing header: {name}.")
    if headers["x-ots-apiversion"] != API_VERSION:
        raise parameter_invalid(f"Unsupported API version: {headers['x-ots-apiversion']}.")
    now = dt.datetime.now(dt.timezone.utc)
    if abs(now - _parse_date(headers["x-ots-date"])) > MAX_SKEW:
        raise auth_failed(f"Mismatch between system time and x-ots-date: {headers['x-ots-date']}.")
    if not hmac.compare_digest(headers["x-ots-accesskeyid"], creds.access_key_id):
        raise auth_failed("The AccessKeyID does not exist.")
    if headers["x-ots-instancename"] != creds.instance:
        raise auth_failed("The instance is not found.")
    _check_token(headers.get("x-ots-ststoken"), creds.security_token)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")  # noqa: S324 - the protocol's checksum
    if not hmac.compare_digest(headers["x-ots-contentmd5"], md5):
        raise auth_failed("Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
    if "x-ots-signaturev4" in headers:
        key = _v4_signing_key(headers, creds, now)
        expected = _b64_hmac(key, _request_string(path, headers) + "ots", "sha256")
        given = headers["x-ots-signaturev4"]
    elif "x-ots-signature" in headers:
        key = creds.access_key_secret.encode("utf-8")
        expected = _b64_hmac(key, _request_string(path, headers), "sha1")
        given = headers["x-ots-signature"]
    else:
        raise parameter_invalid("Missing header: x-ots-signature.")
    if not hmac.compare_digest(given, expected):
        raise auth_failed("Signature mismatch.")
    return key


def _check_token(given: str | None, expected: str | None) -> None:
    if expected is None and given is not None:
        raise auth_failed(
            "The security token you provided is invalid: this AccessKey ID is not a temporary one."
        )
    if expected is not None and (given is None or not hmac.compare_digest(given, expected)):
        raise auth_failed("The security token you provided is invalid or missing (x-ots-ststoken).")


def _v4_signing_key(headers: dict[str, str], creds: ServerCredentials, now: dt.datetime) -> bytes:
    for name in ("x-ots-signdate", "x-ots-signregion"):
        if name not in headers:
            raise parameter_invalid(f"Missing header: {name}.")
    sign_date, region = headers["x-ots-signdate"], headers["x-ots-signregion"]
    try:
        signed_day = dt.datetime.strptime(sign_date, "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise parameter_invalid(f"Invalid date format: {sign_date}.") from None
    if abs(now - signed_day) > dt.timedelta(days=2):
        raise auth_failed(f"Mismatch between system time and x-ots-signdate: {sign_date}.")
    if creds.region is not None and region != creds.region:
        raise auth_failed("Signature mismatch.")
    return _v4_key(creds.access_key_secret, sign_date, region)


def response_headers(
    path: str, body: bytes, request_id: str, access_key_id: str, key: bytes | None
) -> dict[str, str]:
    """The x-ots-* headers of an answer, and ``authorization`` when the request's signing key is known."""
    headers = {
        "x-ots-contentmd5": base64.b64encode(hashlib.md5(body).digest()).decode("ascii"),  # noqa: S324
        "x-ots-requestid": request_id,
        "x-ots-date": dt.datetime.now(dt.timezone.utc).strftime(DATE_FORMAT),
        "x-ots-contenttype": "protocol buffer",
    }
    if key is not None:
        signature = _b64_hmac(key, canonical_headers(headers) + "\n" + urlparse(path).path, "sha1")
        headers["authorization"] = f"OTS {access_key_id}:{signature}"
    return headers


__all__ = ["OTSError", "ServerCredentials", "response_headers", "verify_request"]
