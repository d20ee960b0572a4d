"""The official ``tablestore`` SDK, imported quietly and configured to fail fast.

* Importing 6.x logs "Native C++ encoder/decoder not available, using Python implementation" through the
  ``tablestore.encoder`` / ``tablestore.decoder`` loggers (a ``logging.warning`` at import time, no
  ``print``). With no handler configured Python's last-resort handler writes it to stderr; where the
  runtime has configured a root handler on stdout it would land in our log, which must be JSON lines
  only. So the ``tablestore`` logger hierarchy is detached from the root logger (NullHandler, no
  propagation) before the import, and the client logs to a child of it. Redirecting ``sys.stdout``
  around the import instead would not help (a configured handler holds the stream object) and would
  swallow other threads' log lines meanwhile.
* The SDK's default retry policy retries throttling up to 20 times, 3 s apart at most, and its default
  socket timeout is 50 s; the store must fail closed within a couple of seconds, so both are shortened.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ehpc_rerun.errors import ConfigError

_LOGGER = "tablestore"
CLIENT_LOGGER = "tablestore.ehpc_rerun"
# The oldest SDK the store was run against (FC's python3.10 runtime ships 5.4.1 as a built-in).
MIN_VERSION = (5, 4, 1)

_import_lock = threading.Lock()


_SILENT = logging.CRITICAL + 1  # above every level the SDK logs at: no record is even created


def _silence_sdk_logging() -> None:
    root = logging.getLogger(_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    root.propagate = False
    root.setLevel(_SILENT)
    # The SDK formats its DEBUG lines (request headers, STS token included) whenever its logger's own
    # level is <= DEBUG; an explicit level above that skips the work too. Failures reach us as exceptions.
    logging.getLogger(CLIENT_LOGGER).setLevel(_SILENT)


def import_sdk() -> ModuleType:
    """``import tablestore`` with nothing printed, checking the version; ConfigError if unusable."""
    with _import_lock:
        _silence_sdk_logging()
        try:
            import tablestore
        except ImportError as exc:
            raise ConfigError(
                f"EHPC_RERUN_STATE names a Tablestore table but the tablestore SDK cannot be imported "
                f"({exc}); install tablestore>={'.'.join(map(str, MIN_VERSION))} in the code package"
            ) from None
    found = str(getattr(tablestore, "__version__", "0"))
    if _version_tuple(found) < MIN_VERSION:
        needed = ".".join(map(str, MIN_VERSION))
        raise ConfigError(
            f"EHPC_RERUN_STATE names a Tablestore table but the tablestore SDK found is {found}; "
            f"the state store needs tablestore>={needed} (ship it in the code package)"
        )
    sdk: ModuleType = tablestore
    return sdk


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@dataclass(frozen=True)
class Timeouts:
    # 1.5 s: a connect survives one lost SYN (Linux resends it after 1 s), and a store that is down
    # still fails closed within a couple of seconds.
    connect_s: float = 1.5
    read_s: float = 2.0
    # Retries of throttling / busy errors by the SDK itself (conditional-write races are ours to handle).
    sdk_retries: int = 2
    sdk_max_delay_s: float = 0.3


def short_retry_policy(sdk: ModuleType, timeouts: Timeouts) -> Any:
    """The SDK's DefaultRetryPolicy (same retryable errors) with few, short retries."""
    base: type[Any] = sdk.DefaultRetryPolicy

    class ShortRetryPolicy(base):  # type: ignore[misc]
        max_retry_times = timeouts.sdk_retries
        max_retry_delay = timeouts.sdk_max_delay_s
        server_throttling_exception_delay_factor = 0.1
        stability_exception_delay_factor = 0.05

    return ShortRetryPolicy()


def make_client(
    sdk: ModuleType,
    *,
    endpoint: str,
    instance: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None,
    timeouts: Timeouts,
) -> Any:
    """An OTSClient with short timeouts and retries (raises the SDK's OTSClientError on bad input)."""
    import urllib3

    client = sdk.OTSClient(
        endpoint,
        access_key_id,
        access_key_secret,
        instance,
        sts_token=security_token or None,
        socket_timeout=urllib3.Timeout(connect=timeouts.connect_s, read=timeouts.read_s),
        retry_policy=short_retry_policy(sdk, timeouts),
        logger_name=CLIENT_LOGGER,
        max_connection=16,
    )
    # urllib3 retries a failed connect 3 times by default (the SDK passes no ``retries``), which only
    # delays failing closed, and logs a WARNING per retry through the root logger, i.e. possibly on our
    # stdout. No retries: a POST is never resent after a read error anyway (no conditional write is sent
    # twice), and urllib3 already checks a pooled connection for a server-side close before reusing it.
    pool = getattr(getattr(client, "connection", None), "pool", None)
    pool_kw = getattr(pool, "connection_pool_kw", None)
    if isinstance(pool_kw, dict):
        pool_kw["retries"] = urllib3.Retry(total=0, redirect=False, raise_on_status=False)
    return client


def close_client(client: Any) -> None:
    pool = getattr(getattr(client, "connection", None), "pool", None)
    clear = getattr(pool, "clear", None)
    if callable(clear):
        clear()


_THROTTLED = {
    "OTSServerBusy",
    "OTSNotEnoughCapacityUnit",
    "OTSOperationThrottled",
    "OTSQuotaExhausted",
    "OTSCapacityUnitExhausted",
    "OTSRowOperationConflict",
}
_AUTH = {"OTSAuthFailed", "OTSNoPermissionAccess", "OTSAccessDenied", "OTSStsTokenExpired"}


def explain(exc: BaseException, *, endpoint: str, instance: str, table: str, secrets: tuple[str, ...]) -> str:
    """An actionable, secret-free sentence for an SDK or transport failure."""
    where = f"the Tablestore table {table!r} of instance {instance!r} at {endpoint}"
    code = str(getattr(exc, "code", "") or "")
    status = getattr(exc, "http_status", None)
    # urllib3's MaxRetryError repeats the URL around its cause: the cause is what a person needs.
    cause = getattr(exc, "reason", None) if type(exc).__name__ == "MaxRetryError" else None
    if isinstance(cause, BaseException):
        exc = cause
    text = str(getattr(exc, "message", "") or exc).strip().rstrip(".")
    for secret in secrets:
        # Real secrets are 30+ characters; masking a 1-character test value would garble the text.
        if len(secret) >= 6:
            text = text.replace(secret, "***")
    said = f"{code}: {text}" if code else f"{type(exc).__name__}: {text}"
    if code == "OTSObjectNotExist":
        return (
            f"{where} does not exist ({said}); create it with primary key `key` (STRING) - the deploy "
            "template does - or correct the instance/table in EHPC_RERUN_STATE"
        )
    if code in _AUTH or status in (401, 403):
        return (
            f"Tablestore refused the function's credentials for {where} ({said}); check that the "
            "function's role has a RAM policy allowing ots:BatchGetRow and ots:BatchWriteRow on this "
            "instance and table, and that EHPC_RERUN_STATE names the right instance and endpoint"
        )
    if code in _THROTTLED:
        return (
            f"{where} is throttling requests even after retries ({said}); check the instance's capacity "
            "(reserved or on-demand CUs) and retry later"
        )
    if code:
        return f"{where} failed a request ({said}); check EHPC_RERUN_STATE and the instance's status"
    if _is_transport(exc):
        return (
            f"cannot reach {where} ({said}); check the endpoint host in EHPC_RERUN_STATE and the "
            "network path (a public endpoint needs internet access from the function, a VPC endpoint "
            "needs the function in that VPC)"
        )
    return (
        f"the Tablestore client failed for {where} ({said}); check EHPC_RERUN_STATE (endpoint, "
        "instance, table), the function's credentials and the network"
    )


def _is_transport(exc: BaseException) -> bool:
    import urllib3

    return isinstance(exc, (OSError, urllib3.exceptions.HTTPError))


def failure_types(sdk: ModuleType) -> tuple[type[BaseException], ...]:
    """Exceptions an SDK call raises when the store cannot answer (anything else is a bug of ours)."""
    import urllib3

    return (sdk.OTSError, urllib3.exceptions.HTTPError, OSError)
