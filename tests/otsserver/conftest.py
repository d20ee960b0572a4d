"""Fixtures: a local Tablestore server on 127.0.0.1 and official-SDK clients pointed at it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tablestore

from ehpc_rerun.otsserver import TablestoreServer

KEY_ID = "test-ak-id"
SECRET = "test-secret-not-real"
TOKEN = "test-sts-token-not-real"
INSTANCE = "ehpc-rerun"
TABLE = "ehpc_rerun_state"

# The SDK logs every service error at ERROR level; the tests assert on the exceptions instead.
logging.getLogger("tablestore-client").setLevel(logging.CRITICAL)


@pytest.fixture
def server() -> Iterator[TablestoreServer]:
    """A server that knows our test key and demands its STS token."""
    with TablestoreServer(access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN) as ots:
        yield ots


@pytest.fixture
def make_client(server: TablestoreServer) -> Callable[..., tablestore.OTSClient]:
    """An official SDK client for the server; keyword arguments override the good credentials."""

    def make(**overrides: Any) -> tablestore.OTSClient:
        options: dict[str, Any] = {
            "access_key_id": KEY_ID,
            "access_key_secret": SECRET,
            "instance_name": INSTANCE,
            "sts_token": TOKEN,
            "retry_policy": tablestore.NoRetryPolicy(),
            "socket_timeout": 5,
        }
        options.update(overrides)
        return tablestore.OTSClient(server.endpoint, **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., tablestore.OTSClient]) -> tablestore.OTSClient:
    return make_client()
