"""Quota tests: the state-store fixtures of tests/state (one fresh store of each backend), re-exported."""

from __future__ import annotations

from tests.state.conftest import (  # noqa: F401 - fixtures, found by name
    store_factory,
    store_url,
    tablestore_server,
    tablestore_url,
)
