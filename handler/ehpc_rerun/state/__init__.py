"""Where dedupe leases and rerun budgets live: :func:`open_store` picks the backend from a URL."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from ehpc_rerun.errors import ConfigError

from .base import ClaimResult, RecordStatus, StateRecord, StateStore
from .sqlite import SqliteStateStore

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


def open_store(url: str | None, *, default_dir: str | None = None) -> StateStore:
    """Open the store named by ``url`` (the value of ``EHPC_RERUN_STATE``).

    * ``None`` or empty: a SQLite file under ``default_dir`` (default ``<tmp>/ehpc-rerun``);
    * ``sqlite:////abs/path.db`` or ``sqlite:///relative/to/cwd.db`` (as SQLAlchemy spells them);
    * ``redis://`` / ``rediss://``: Redis or Tair.

    Raises :class:`ConfigError` for anything else and
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
    # Only the scheme is echoed: the rest of a URL may carry a password.
    shown = f"a {scheme}:// URL" if scheme else "not a URL"
    raise ConfigError(
        f"{_ENV} is {shown}; use sqlite:////abs/path.db, sqlite:///relative.db, "
        "redis://[:password@]host:port/db or rediss://...",
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
