"""Server-side ACS3-HMAC-SHA256 ("signature V3") verification, written by hand from the spec.

No library implements the *server* side of Alibaba Cloud's V3 signature, so this module
rebuilds it from the documented procedure (see ``shared/reference/ehpc-api.md`` §1):

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n
                       CanonicalHeaders \\n SignedHeaders \\n HashedRequestPayload
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(AccessKeySecret, StringToSign))

Server-specific points:

* The wire query is form-encoded (``+`` for a space); callers pass already-decoded pairs,
  which are re-encoded here under RFC 3986 (``quote(s, safe='~')``), keys *and* values.
* CanonicalHeaders is rebuilt from the client's own ``SignedHeaders`` list (the Python SDK
  signs every header it sets, including ``accept`` and ``user-agent``), but ``host``, every
  ``x-acs-*`` header present and ``content-type`` (if present) must be in that list.
* ``x-acs-content-sha256`` must equal the SHA-256 of the body actually received.

All functions are pure: time, nonce bookkeeping and secret lookup come from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
from calendar import timegm
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from time import strptime
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_REQUIRED_HEADERS = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: unreserved ``A-Za-z0-9-_.~`` kept, everything else ``%XY`` (UTF-8)."""
    return quote(value, safe="~", encoding="utf-8")


def canonical_uri(path: str) -> str:
    """Encode each ``/``-separated segment of an (already decoded) path; empty path is ``/``."""
    if not path:
        return "/"
    return "/".join(percent_encode(segment) for segment in path.split("/"))


def canonical_query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """Sort by name (then value), encode names and values, join with ``=`` and ``&``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Iterable[str]) -> tuple[str, str] | None:
    """Return ``(CanonicalHeaders, SignedHeaders)`` for the named headers.

    Repeated headers are trimmed, sorted and joined with ``,``. Returns ``None`` when a
    header listed in ``signed`` is absent from ``headers``.
    """
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.strip())
    names = sorted({name.strip().lower() for name in signed if name.strip()})
    lines: list[str] = []
    for name in names:
        if name not in values:
            return None
        lines.append(f"{name}:{','.join(sorted(values[name]))}\n")
    return "".join(lines), ";".join(names)


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    *,
    canonical_headers_block: str,
    signed_headers: str,
    hashed_payload: str,
) -> str:
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query_string(query_pairs),
            canonical_headers_block,
            signed_headers,
            hashed_payload,
        ]
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def sign(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization | None:
    """Parse ``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..``; ``None`` if malformed."""
    algorithm, sep, rest = value.strip().partition(" ")
    if not sep:
        return None
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, eq, val = item.strip().partition("=")
        if not eq:
            return None
        parts[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys() or not parts["Credential"]:
        return None
    signed = tuple(h for h in parts["SignedHeaders"].split(";") if h)
    return Authorization(algorithm, parts["Credential"], signed, parts["Signature"])


def parse_acs_date(value: str) -> float | None:
    """``yyyy-MM-ddTHH:mm:ssZ`` (UTC) to epoch seconds; ``None`` if malformed."""
    try:
        return float(timegm(strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`; on failure ``status``/``code``/``message`` form the error answer."""

    ok: bool
    status: int = 200
    code: str | None = None
    message: str | None = None
    access_key_id: str | None = None
    security_token: str | None = None
    nonce: str | None = None
    signed_headers: tuple[str, ...] = ()
    canonical_request: str | None = None
    string_to_sign: str | None = None
    expected_signature: str | None = None
    signature_valid: bool = False


def verify(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    body: bytes,
    secret_lookup: Callable[[str], str | None],
    *,
    token_lookup: Callable[[str], str | None] | None = None,
    now: float | None = None,
) -> VerifyResult:
    """Verify a V3-signed request. ``headers`` are raw ``(name, value)`` pairs (any case).

    ``secret_lookup(ak)`` returns the secret or ``None`` (unknown key). ``token_lookup(ak)``
    returns the STS token that key must present, or ``None`` if it needs none. ``now`` (epoch
    seconds) enables the 15-minute ``x-acs-date`` window check. Nonce reuse is the caller's
    job: the accepted nonce is returned in ``VerifyResult.nonce``.
    """
    header_list = [(n.lower(), v) for n, v in headers]
    first: dict[str, str] = {}
    for name, value in reversed(header_list):
        first[name] = value.strip()
    res = VerifyResult(False, 400, security_token=first.get("x-acs-security-token"))

    def fail(code: str, message: str, status: int = 400) -> VerifyResult:
        return replace(res, status=status, code=code, message=message)

    auth_value = first.get("authorization")
    if not auth_value:
        return fail("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
    auth = parse_authorization(auth_value)
    if auth is None:
        return fail("IncompleteSignature", "The Authorization header is malformed.")
    res = replace(res, access_key_id=auth.access_key_id, signed_headers=auth.signed_headers)
    if auth.algorithm != ALGORITHM:
        return fail("InvalidSignatureMethod", f"Unsupported signature method {auth.algorithm}.")
    secret = secret_lookup(auth.access_key_id)
    if secret is None:
        return fail("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    for name in _REQUIRED_HEADERS:
        if name not in first:
            return fail("IncompleteSignature", f"The header {name} is required.")
    signed = {h.lower() for h in auth.signed_headers}
    must_sign = {n for n, _ in header_list if n.startswith("x-acs-") or n in ("host", "content-type")}
    unsigned = sorted(must_sign - signed)
    if unsigned:
        return fail("IncompleteSignature", f"These headers must be signed: {';'.join(unsigned)}.")
    date = parse_acs_date(first["x-acs-date"])
    if date is None:
        return fail("InvalidTimeStamp.Format", "Specified time stamp is not valid.")
    if now is not None and abs(now - date) > MAX_CLOCK_SKEW_SECONDS:
        return fail("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    hashed_payload = first["x-acs-content-sha256"]
    if hashed_payload != hashlib.sha256(body).hexdigest():
        return fail("SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body.")
    built = canonical_headers(header_list, auth.signed_headers)
    if built is None:
        return fail("SignatureDoesNotMatch", "A header listed in SignedHeaders is missing.")
    canonical = canonical_request(
        method,
        path,
        query_pairs,
        canonical_headers_block=built[0],
        signed_headers=built[1],
        hashed_payload=hashed_payload,
    )
    to_sign = string_to_sign(canonical)
    expected = sign(secret, to_sign)
    res = replace(res, canonical_request=canonical, string_to_sign=to_sign, expected_signature=expected)
    if not hmac.compare_digest(expected.encode(), auth.signature.lower().encode()):
        return fail("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
    res = replace(res, signature_valid=True)
    required_token = token_lookup(auth.access_key_id) if token_lookup is not None else None
    if required_token is not None:
        token = res.security_token
        if token is None:
            return fail("MissingSecurityToken", "SecurityToken is mandatory for this access key.")
        same_ak = first.get("x-acs-accesskey-id", auth.access_key_id) == auth.access_key_id
        if not same_ak or not hmac.compare_digest(token.encode(), required_token.encode()):
            return fail(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The security token does not match the access key.",
            )
    return replace(res, ok=True, status=200, nonce=first["x-acs-signature-nonce"])
