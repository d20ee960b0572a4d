from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.state import StateStore, open_store
from tests.state.conftest import fake_credentials, tablestore_server, tablestore_url  # noqa: F401

from .fakes import AK, SECRET, TOKEN, FakeDingTalk, FakeEventBridge, FakeMns


@pytest.fixture
def creds() -> Credentials:
    return Credentials(AK, SECRET, TOKEN)


@pytest.fixture
def mns() -> Iterator[FakeMns]:
    with FakeMns() as fake:
        yield fake


@pytest.fixture
def eventbridge() -> Iterator[FakeEventBridge]:
    with FakeEventBridge() as fake:
        yield fake


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    with FakeDingTalk() as fake:
        yield fake


# --- the DingTalk digest's shared store: every backend, as tests/state does --------------------------
# (the Tablestore server fixtures are imported from tests/state; redis_url is the root conftest's)
STORE_BACKENDS = ["sqlite", "redis", "tablestore"]


@pytest.fixture(params=STORE_BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """EHPC_RERUN_STATE for a fresh, empty store of each backend."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    if request.param == "tablestore":
        return str(request.getfixturevalue("tablestore_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def open_state(state_url: str) -> Iterator[Callable[[], StateStore]]:
    """Opens independent stores (own connections, as separate FC instances) on the same store."""
    opened: list[StateStore] = []

    def make() -> StateStore:
        opened.append(open_store(state_url, credentials=fake_credentials))
        return opened[-1]

    yield make
    for store in opened:
        store.close()
