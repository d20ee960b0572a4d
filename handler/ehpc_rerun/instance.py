"""What one FC instance builds once and shares between its invocations: state stores, E-HPC clients,
and the newest STS credentials it was given.

FC refreshes a role's STS credentials; a client built with old ones is rebuilt (E-HPC clients are
keyed by the credentials), and a store that signs its own requests (Tablestore) asks
:func:`store_credentials` before each request batch.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any

from .credentials import Credentials, credentials_from
from .settings import Settings
from .sinks.log import register_secrets
from .state.base import StateStore

if TYPE_CHECKING:  # the E-HPC layer is imported only on the path that calls E-HPC
    from .ehpc.client import EhpcClient

_MAX_CLIENTS = 32

# Separate locks: opening a store may ask for credentials, which must not wait on the store lock.
_stores_lock = threading.Lock()
_clients_lock = threading.Lock()
_creds_lock = threading.Lock()
_stores: dict[str, StateStore] = {}
_clients: dict[tuple[str, str, str], EhpcClient] = {}
_latest_creds: list[Credentials] = []
# The context of the invocation running in this thread (set by the handler for its duration).
current_context: contextvars.ContextVar[Any] = contextvars.ContextVar("ehpc_rerun_context")


def store(config: Settings) -> StateStore:
    """The state store named by ``EHPC_RERUN_STATE``, opened once per instance."""
    from .state import open_store

    url = config.state or ""
    with _stores_lock:
        if url not in _stores:
            _stores[url] = open_store(config.state, credentials=store_credentials)
        return _stores[url]


def store_credentials() -> Credentials:
    """The running invocation's credentials, read from its context; from a thread that runs no
    invocation (a worker of the parallel executor), the newest seen; else the environment's."""
    context = current_context.get(None)
    if context is not None:
        creds = credentials_from(context)
        remember(creds)
        return creds
    with _creds_lock:
        if _latest_creds:
            return _latest_creds[-1]
    creds = credentials_from(None)
    register_secrets(creds.secrets())
    return creds


def remember(creds: Credentials) -> None:
    """Record the newest credentials (and keep their secrets out of every output)."""
    register_secrets(creds.secrets())
    with _creds_lock:
        _latest_creds[:] = [creds]


def client(config: Settings, creds: Credentials, region: str) -> EhpcClient:
    from .ehpc.client import EhpcClient

    ident = (region, creds.access_key_id, str(hash(creds.security_token)))
    with _clients_lock:
        if ident not in _clients:
            if len(_clients) > _MAX_CLIENTS:
                _clients.clear()
            _clients[ident] = EhpcClient(config, creds, region)
        return _clients[ident]


def reset() -> None:
    """Close the stores and forget clients and credentials (tests and the local CLI)."""
    with _stores_lock:
        for opened in _stores.values():
            opened.close()
        _stores.clear()
    with _clients_lock:
        _clients.clear()
    with _creds_lock:
        _latest_creds.clear()
