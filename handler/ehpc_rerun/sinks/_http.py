"""One bounded HTTP(S) POST with the stdlib, shared by the hand-rolled sinks (MNS, DingTalk).

``http.client`` directly: no proxies from the environment, no redirects, TLS verified with the
system CA store, ``timeout_s`` on connect and on every read, and a capped response body.
Transport failures become a transient :class:`~ehpc_rerun.errors.SinkError` (``<prefix>.Timeout`` /
``<prefix>.Transport``) whose message never contains the URL (it may carry a token).
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ehpc_rerun.errors import TransientSinkError

MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int | None
    path: str  # without query
    query: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return cls(parts.scheme, parts.hostname, parts.port, parts.path or "/", parts.query)

    @property
    def is_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")


def post(
    target: Target,
    path_and_query: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float,
    prefix: str,
) -> Response:
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s)
    try:
        conn.request("POST", path_and_query, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read(MAX_RESPONSE_BYTES)
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data)
    except TimeoutError as exc:
        raise TransientSinkError(
            f"no answer from {target.host} within {timeout_s:g} s", code=f"{prefix}.Timeout"
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise TransientSinkError(
            f"cannot reach {target.host}: {type(exc).__name__}: {exc}", code=f"{prefix}.Transport"
        ) from exc
    finally:
        conn.close()
