"""Who may call the HTTP trigger.

Two modes (``EHPC_RERUN_HTTP_AUTH``):

* ``function`` (default): the trigger's authType is ``function``; FC checks the caller's ACS3 signature
  before the function runs (fc-events.md §2.1), so nothing more is checked here.
* ``anonymous``: the trigger is open and the function checks a shared secret itself. The caller sends
  ``X-Ehpc-Rerun-Timestamp: <unix seconds>`` and ``X-Ehpc-Rerun-Signature:
  hex(HMAC-SHA256(EHPC_RERUN_HTTP_SECRET, "<timestamp>\\n<METHOD>\\n<path>\\n" + body))``: the method in
  upper case, the path the function routes on (FC's ``requestContext.http.path``, i.e. the URL path
  percent-decoded, without the query string; ``rawPath`` when FC gives none; ``/`` when empty; see
  :mod:`.http_routes`), and the exact body bytes (empty for GET). So a signature is good for one method
  on one path only. The string is unambiguous: the method and path hold no newline (a path with a control
  character is refused), and the body is last. The timestamp must be within
  ``EHPC_RERUN_HTTP_MAX_SKEW_S``; a signature is accepted once (replay protection through the state
  store). CloudMonitor callbacks cannot sign: for them the callback URL carries
  ``?token=<EHPC_RERUN_HTTP_ALERT_TOKEN>`` instead (unchanged; method and path play no part).

Comparisons are constant-time (:func:`hmac.compare_digest`). Written by hand because it is a dozen lines
of stdlib HMAC that no library wraps for FC's event shape.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass

from ehpc_rerun.settings import Settings

TIMESTAMP_HEADER = "x-ehpc-rerun-timestamp"
SIGNATURE_HEADER = "x-ehpc-rerun-signature"
TOKEN_QUERY = "token"  # noqa: S105 - the name of a query parameter, not a secret
MIN_TOKEN_LENGTH = 32
SIGNED_STRING = '"<timestamp>\\n<METHOD>\\n<path>\\n" + body'  # how messages name it
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    status: int = 200
    code: str = ""
    message: str = ""
    replay_key: str | None = None  # claim this in the state store: a second use is a replay


def string_to_sign(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """``<timestamp>\\n<METHOD>\\n<path>\\n`` + body, the bytes the signature covers."""
    head = f"{timestamp}\n{method.upper()}\n{path or '/'}\n"
    return head.encode("utf-8", "surrogatepass") + body


def sign(secret: str, timestamp: str, body: bytes, *, method: str = "POST", path: str = "/") -> str:
    """The signature a caller sends (also used by ``ehpc-rerun sign`` and the tests)."""
    message = string_to_sign(timestamp, method, path, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _deny(status: int, code: str, message: str) -> AuthResult:
    return AuthResult(False, status, code, message)


def check(
    settings: Settings,
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    query: dict[str, str],
    body: bytes,
    is_alert_callback: bool,
    now: float | None = None,
) -> AuthResult:
    """May this request go on? ``method`` and ``path`` as :mod:`.http` routes on; ``body`` b"" for GET."""
    if settings.http_auth == "function":
        return AuthResult(True)
    if is_alert_callback:
        return _check_token(settings, query)
    request = (method, path, body)
    return _check_signature(settings, headers, request, time.time() if now is None else now)


def _check_token(settings: Settings, query: dict[str, str]) -> AuthResult:
    expected = settings.http_alert_token.get_secret_value() if settings.http_alert_token else ""
    if len(expected) < MIN_TOKEN_LENGTH:
        return _deny(
            401,
            "AlertTokenNotConfigured",
            "CloudMonitor callbacks are refused: set EHPC_RERUN_HTTP_ALERT_TOKEN to a random string of at "
            f"least {MIN_TOKEN_LENGTH} characters and add ?token=<it> to the alert callback URL",
        )
    given = query.get(TOKEN_QUERY, "")
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode()):
        return _deny(401, "InvalidToken", "the callback URL's token query parameter is missing or wrong")
    return AuthResult(True)


def _check_signature(
    settings: Settings, headers: dict[str, str], request: tuple[str, str, bytes], now: float
) -> AuthResult:
    secret = settings.http_secret.get_secret_value() if settings.http_secret else ""
    if not secret:
        return _deny(
            401,
            "HttpSecretNotConfigured",
            "this HTTP trigger is anonymous and no shared secret is configured, so every call is refused: "
            "set EHPC_RERUN_HTTP_SECRET, or use the trigger's 'function' auth type with "
            "EHPC_RERUN_HTTP_AUTH=function",
        )
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not signature:
        return _deny(
            401,
            "MissingSignature",
            f"send {TIMESTAMP_HEADER} (unix seconds) and {SIGNATURE_HEADER} "
            f"(hex HMAC-SHA256 of {SIGNED_STRING} with the shared secret; ehpc-rerun sign prints both)",
        )
    if _CONTROL.search(timestamp):
        return _deny(401, "InvalidTimestamp", f"{TIMESTAMP_HEADER} must be unix seconds")
    try:
        skew = abs(now - float(timestamp))
    except ValueError:
        return _deny(401, "InvalidTimestamp", f"{TIMESTAMP_HEADER} must be unix seconds")
    if not skew <= settings.http_max_skew_s:  # also false for nan
        return _deny(
            401,
            "RequestExpired",
            f"timestamp is {int(skew) if math.isfinite(skew) else '?'} s away from server time",
        )
    method, path, body = request
    if _CONTROL.search(method) or _CONTROL.search(path):
        return _deny(400, "InvalidPath", "the request path contains control characters")
    expected = sign(secret, timestamp, body, method=method, path=path)
    if not hmac.compare_digest(signature.strip().lower().encode("utf-8", "surrogatepass"), expected.encode()):
        return _deny(
            401,
            "SignatureDoesNotMatch",
            f"the request signature does not match the shared secret over {SIGNED_STRING} "
            f"for {method.upper()[:10]} on this path",
        )
    return AuthResult(True, replay_key=f"http-replay:{expected}")
