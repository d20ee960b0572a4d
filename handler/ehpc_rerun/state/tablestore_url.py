"""``EHPC_RERUN_STATE`` for Tablestore: which endpoint, instance and table (never credentials).

* ``tablestore://<endpoint-host>/<instance>/<table>``: HTTPS, e.g.
  ``tablestore://myinst.cn-hangzhou.ots.aliyuncs.com/myinst/ehpc_rerun_state`` (VPC endpoints likewise);
* ``tablestore+http://127.0.0.1:<port>/<instance>/<table>``: plain HTTP, only to this machine (the local
  server): over plain HTTP the STS token travels in a header, readable by anyone on the path.

Names follow Tablestore's limits (https://www.alibabacloud.com/help/doc-detail/91524.html): an instance
is 3-16 letters, digits or hyphens, starting with a letter and not ending with a hyphen; a table is 1-255
letters, digits or underscores, starting with a letter or an underscore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ehpc_rerun.errors import ConfigError

_ENV = "EHPC_RERUN_STATE"
SCHEMES = ("tablestore", "tablestore+http")
FORMS = (
    "tablestore://<endpoint-host>/<instance>/<table> (HTTPS) or "
    "tablestore+http://127.0.0.1:<port>/<instance>/<table> (the local server)"
)
_INSTANCE = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]{1,14}[A-Za-z0-9])")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TablestoreLocation:
    endpoint: str  # https://host[:port] or http://127.0.0.1:port, as OTSClient wants it
    instance: str
    table: str


def is_tablestore_url(url: str) -> bool:
    return url.partition("://")[0].lower() in SCHEMES if "://" in url else False


def parse_tablestore_url(url: str) -> TablestoreLocation:
    """Validate strictly; ConfigError naming EHPC_RERUN_STATE and the expected form otherwise."""
    scheme, _, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise _bad(f"is not a Tablestore URL; use {FORMS}")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        # Not echoed: whatever is before the @ may be a key. Credentials come from the function's role.
        raise _bad(
            "must not carry credentials (user@ or key:secret@): the function's role provides them; "
            f"use {FORMS}"
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise _bad(f"has an invalid host or port; use {FORMS}") from None
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _bad(f"takes no ?query or #fragment; use {FORMS}")
    host = parts.hostname or ""
    if not host or not (_HOST.fullmatch(host) or host == "::1"):
        raise _bad(f"needs the endpoint host (e.g. myinst.cn-hangzhou.ots.aliyuncs.com); use {FORMS}")
    segments = parts.path.split("/")[1:] if parts.path.startswith("/") else []
    if len(segments) != 2:
        raise _bad(f"must name exactly an instance and a table after the host; use {FORMS}")
    instance, table = segments
    if not _INSTANCE.fullmatch(instance):
        raise _bad(
            f"names the instance {instance!r}: an instance name is 3-16 letters, digits or hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    if not _TABLE.fullmatch(table):
        raise _bad(
            f"names the table {table!r}: a table name is 1-255 letters, digits or underscores, "
            "starting with a letter or an underscore"
        )
    if scheme == "tablestore+http":
        if host not in _LOOPBACK:
            raise _bad(
                f"uses plain HTTP to {host}: tablestore+http:// is only for a server on this machine "
                "(127.0.0.1); use tablestore://<endpoint-host>/<instance>/<table> (HTTPS)"
            )
        if port is None:
            raise _bad(
                "tablestore+http:// needs the local server's port: tablestore+http://127.0.0.1:<port>/..."
            )
    shown_host = f"[{host}]" if ":" in host else host
    netloc = f"{shown_host}:{port}" if port is not None else shown_host
    http = "http" if scheme == "tablestore+http" else "https"
    return TablestoreLocation(f"{http}://{netloc}", instance, table)


def _bad(problem: str) -> ConfigError:
    return ConfigError(f"{_ENV} {problem}")
