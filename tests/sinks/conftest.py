from __future__ import annotations

from collections.abc import Iterator

import pytest

from ehpc_rerun.credentials import Credentials

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
