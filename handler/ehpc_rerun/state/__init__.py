"""Where dedupe leases and rerun budgets live: :func:`open_store` picks the backend from a URL."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ehpc_rerun.errors import ConfigError

from .base import ClaimResult, RecordStatus, StateRecord, StateStore
from .sqlite import SqliteStateStore
from .tablestore_url import FORMS as TABLESTORE_FORMS
from .tablestore_url import is_tablestore_url, parse_tablestore_url

if TYPE_CHECKING:
    from ehpc_rerun.credentials import Credentials

__all__ = [
    "ClaimResult",
    "RecordStatus",
    "SqliteStateStore",
    "StateRecord",
    "StateStore",
    "default_sqlite_path",
    "open_store",
]

_ENV = "EHPC_RERUN_STATE"


def default_sqlite_path(default_dir: str | None = None) -> Path:
    """The file used when no store is configured: FC's ``/tmp`` is private to one instance."""
    base = Path(default_dir) if default_dir else Path(tempfile.gettempdir()) / "ehpc-rerun"
    return base / "state.db"


def open_store(
    url: str | None,
    *,
    default_dir: str | None = None,
    credentials: Callable[[], Credentials] | None = None,
) -> StateStore:
    """Open the store named by ``url`` (the value of ``EHPC_RERUN_STATE``).

    * ``None`` or empty: a SQLite file under ``default_dir`` (default ``<tmp>/ehpc-rerun``);
    * ``sqlite:////abs/path.db`` or ``sqlite:///relative/to/cwd.db`` (as SQLAlchemy spells them);
    * ``redis://`` / ``rediss://``: Redis or Tair;
    * ``tablestore://<endpoint-host>/<instance>/<table>`` (HTTPS) or
      ``tablestore+http://127.0.0.1:<port>/<instance>/<table>`` (a local server): a Tablestore table,
      reached with ``credentials()`` (called per operation: FC refreshes the role's STS credentials).

    Raises :class:`ConfigError` for anything else (or a Tablestore URL without ``credentials``) and
    :class:`~ehpc_rerun.errors.StateStoreUnavailable` when the store cannot be opened.
    """
    if url is None or not url.strip():
        return SqliteStateStore(default_sqlite_path(default_dir))
    url = url.strip()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        return SqliteStateStore(_sqlite_path(url))
    if scheme in ("redis", "rediss"):
        # Imported here so that SQLite users never import redis-py.
        from .redis import RedisStateStore

        return RedisStateStore(url)
    if is_tablestore_url(url):
        location = parse_tablestore_url(url)
        if credentials is None:
            raise ConfigError(
                f"{_ENV} names the Tablestore table {location.table!r}, which is reached with the "
                "function's credentials, but none were given to open_store (credentials=...)"
            )
        # Imported here so that other stores never import the tablestore SDK (0.3 s, 60 MB).
        from .tablestore import TablestoreStateStore

        return TablestoreStateStore(
            location.endpoint, location.instance, location.table, credentials=credentials
        )
    # Only the scheme is echoed: the rest of a URL may carry a password.
    shown = f"a {scheme}:// URL" if scheme else "not a URL"
    raise ConfigError(
        f"{_ENV} is {shown}; use sqlite:////abs/path.db, sqlite:///relative.db, "
        f"redis://[:password@]host:port/db, rediss://..., {TABLESTORE_FORMS}",
    )


def _sqlite_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or parts.path in ("/", "/:memory:"):
        raise ConfigError(
            f"{_ENV}: a SQLite URL needs a file: sqlite:////abs/path.db or sqlite:///relative.db "
            "(no host, no in-memory database: it would not be shared)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{_ENV}: a SQLite URL takes no ?query or #fragment")
    # SQLAlchemy's convention: the first slash after the (empty) authority is a separator, so
    # "sqlite:///x.db" is relative and "sqlite:////x.db" absolute.
    relative = parts.path[1:]
    path = Path(relative)
    return path if path.is_absolute() else Path.cwd() / path
