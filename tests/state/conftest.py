"""Fixtures for the state-store tests: a real redis-server and stores for each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ehpc_rerun.state import StateStore, open_store

StoreFactory = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """EHPC_RERUN_STATE for a fresh, empty store of each backend."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def store_factory(store_url: str) -> Iterator[StoreFactory]:
    """Opens independent stores (own connections) on the same file / server."""
    opened: list[StateStore] = []

    def make() -> StateStore:
        opened.append(open_store(store_url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> StateStore:
    return store_factory()
