"""Fixtures for the state-store tests: a real redis-server, a local Tablestore server, and stores for each
backend."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state import StateStore, open_store
from ehpc_rerun.state.tablestore import TablestoreStateStore

StoreFactory = Callable[[], StateStore]

KEY_ID = "test-ak-id"
SECRET = "test-secret-not-real"
TOKEN = "test-sts-token-not-real"
OTS_INSTANCE = "ehpc-rerun"

_tables = itertools.count()


def fake_credentials() -> Credentials:
    """What FC's context.credentials would give the function (fake values the local server accepts)."""
    return Credentials(KEY_ID, SECRET, TOKEN)


@pytest.fixture(scope="session")
def tablestore_server() -> Iterator[TablestoreServer]:
    """A local Tablestore endpoint on 127.0.0.1 for this test session (official SDK, real wire protocol)."""
    with TablestoreServer(
        access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN, instance=OTS_INSTANCE, tables=()
    ) as server:
        yield server


@pytest.fixture
def tablestore_url(tablestore_server: TablestoreServer) -> Iterator[str]:
    """EHPC_RERUN_STATE for a fresh table (primary key ``key`` STRING) on the session server."""
    table = f"state_{next(_tables)}"
    tablestore_server.create_table(table)
    yield f"tablestore+http://127.0.0.1:{tablestore_server.port}/{OTS_INSTANCE}/{table}"
    tablestore_server.drop_table(table)


@pytest.fixture(params=["sqlite", "redis", "tablestore"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """EHPC_RERUN_STATE for a fresh, empty store of each backend."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    if request.param == "tablestore":
        return str(request.getfixturevalue("tablestore_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def store_factory(store_url: str) -> Iterator[StoreFactory]:
    """Opens independent stores (own connections) on the same file / server / table."""
    opened: list[StateStore] = []

    def make() -> StateStore:
        opened.append(open_store(store_url, credentials=fake_credentials))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> StateStore:
    return store_factory()


@pytest.fixture
def table(tablestore_url: str) -> str:
    """The name of the fresh table of ``tablestore_url``."""
    return tablestore_url.rsplit("/", 1)[1]


@pytest.fixture
def open_ts(tablestore_url: str) -> Iterator[Callable[..., TablestoreStateStore]]:
    """Opens Tablestore stores on the fresh table (``credentials=`` overrides the fake ones)."""
    opened: list[TablestoreStateStore] = []

    def make(**kwargs: Any) -> TablestoreStateStore:
        store = open_store(tablestore_url, credentials=kwargs.pop("credentials", fake_credentials))
        assert isinstance(store, TablestoreStateStore)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
