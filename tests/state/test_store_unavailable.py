"""A store that cannot be used raises StateStoreUnavailable with a useful, secret-free message."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state import open_store
from ehpc_rerun.state.redis import RedisStateStore
from ehpc_rerun.state.sqlite import SqliteStateStore
from ehpc_rerun.state.tablestore import TablestoreStateStore
from ehpc_rerun.state.tablestore_sdk import Timeouts

from .conftest import KEY_ID, OTS_INSTANCE, SECRET, TOKEN, fake_credentials
from .redis_server import start_redis, stop_redis

PASSWORD = "s3cret-pass"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _claim(store: RedisStateStore | SqliteStateStore, now: int = 0) -> None:
    store.claim(["k"], owner="inv", detail="", lease_ms=1_000, budget_window_ms=1_000, now_ms=now)


@pytest.mark.parametrize("port", [1, _closed_port()])
def test_redis_on_a_closed_port_is_unavailable_and_the_password_is_not_shown(port: int) -> None:
    # given a URL with a password pointing at a port where nothing listens
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    # when the store is opened
    with pytest.raises(StateStoreUnavailable) as caught:
        open_store(url)
    # then the message names host:port and never the password
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)
    # and the redis-py exception (whose client held the URL) is not chained into tracebacks
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_redis_that_stops_mid_test_makes_every_operation_unavailable() -> None:
    # given a working store on a private server
    process, url = start_redis()
    store = RedisStateStore(url, socket_timeout_s=0.5)
    try:
        _claim(store)
        # when the server goes away
        stop_redis(process)
        # then claim, complete and release all fail closed
        with pytest.raises(StateStoreUnavailable, match=r"127\.0\.0\.1:\d+"):
            _claim(store, now=1)
        with pytest.raises(StateStoreUnavailable):
            store.complete(["k"], owner="inv", dedupe_window_ms=1, budget_window_ms=1, now_ms=2)
        with pytest.raises(StateStoreUnavailable):
            store.release(["k"], owner="inv")
    finally:
        store.close()
        stop_redis(process)


def test_redis_with_a_wrong_password_is_unavailable_without_showing_either_password() -> None:
    # given a server that requires a password, and a URL with the wrong one
    process, good_url = start_redis(password="the-real-one")
    bad_url = good_url.replace("the-real-one", PASSWORD)
    try:
        # when opened with the wrong password / with none
        with pytest.raises(StateStoreUnavailable) as wrong:
            RedisStateStore(bad_url)
        with pytest.raises(StateStoreUnavailable):
            RedisStateStore(good_url.replace(":the-real-one@", ""))
        # then neither password appears; and the right one works
        assert PASSWORD not in str(wrong.value) and "the-real-one" not in str(wrong.value)
        good = RedisStateStore(good_url)
        assert "the-real-one" not in repr(good)
        good.close()
    finally:
        stop_redis(process)


def test_sqlite_under_a_regular_file_is_unavailable(tmp_path: Path) -> None:
    # given a path whose parent is a regular file
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    path = blocker / "state.db"
    # when the store is opened / then it is unavailable, naming the path
    with pytest.raises(StateStoreUnavailable, match=r"not-a-dir/state\.db"):
        SqliteStateStore(path)


def test_sqlite_on_a_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StateStoreUnavailable, match=str(tmp_path)):
        SqliteStateStore(tmp_path)


def test_sqlite_on_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a sqlite database, just some bytes" * 100)
    with pytest.raises(StateStoreUnavailable, match=r"state\.db"):
        SqliteStateStore(path)


def test_sqlite_locked_longer_than_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    # given another connection holding the write lock
    path = tmp_path / "state.db"
    store = SqliteStateStore(path, busy_timeout_ms=100)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        # when a claim has to wait past the busy timeout / then it fails closed
        with pytest.raises(StateStoreUnavailable, match="locked"):
            _claim(store)
    finally:
        other.execute("ROLLBACK")
        other.close()
    # and once the lock is gone the store works again
    _claim(store)
    store.close()


def test_a_closed_sqlite_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    store.close()
    with pytest.raises(StateStoreUnavailable, match="closed"):
        _claim(store)


# --- Tablestore ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "creds",
    [
        Credentials(KEY_ID, "test-wrong-secret", TOKEN),
        Credentials("test-unknown-ak-id", SECRET, TOKEN),
        Credentials(KEY_ID, SECRET, "test-wrong-sts-token"),
        Credentials(KEY_ID, SECRET, None),
    ],
    ids=["wrong secret", "unknown key id", "wrong token", "no token"],
)
def test_tablestore_refusing_the_credentials_is_unavailable_naming_what_to_check(
    tablestore_url: str, creds: Credentials
) -> None:
    # given credentials the server does not accept / when a claim is made
    store = open_store(tablestore_url, credentials=lambda: creds)
    with pytest.raises(StateStoreUnavailable) as caught:
        store.claim(["k"], owner="inv-a", detail="", lease_ms=1, budget_window_ms=1, now_ms=0)
    store.close()
    # then the message says what to check, and shows neither the secret nor the token
    message = str(caught.value)
    assert "ots:BatchGetRow" in message and "RAM policy" in message and "EHPC_RERUN_STATE" in message
    for secret in (SECRET, TOKEN, *creds.secrets()):
        assert secret not in message
    assert caught.value.__cause__ is None


def test_a_missing_tablestore_table_is_unavailable_naming_the_table_and_how_to_create_it(
    tablestore_server: TablestoreServer,
) -> None:
    url = f"tablestore+http://127.0.0.1:{tablestore_server.port}/{OTS_INSTANCE}/no_such_table"
    store = open_store(url, credentials=fake_credentials)
    for operation in (
        lambda: store.claim(["k"], owner="o", detail="", lease_ms=1, budget_window_ms=1, now_ms=0),
        lambda: store.complete(["k"], owner="o", dedupe_window_ms=1, budget_window_ms=1, now_ms=0),
        lambda: store.release(["k"], owner="o"),
    ):
        with pytest.raises(
            StateStoreUnavailable, match=r"'no_such_table' of instance 'ehpc-rerun'.* does not exist"
        ) as caught:
            operation()
        assert "primary key `key` (STRING)" in str(caught.value)
    store.close()


def test_tablestore_on_a_closed_port_is_unavailable_quickly_without_secrets() -> None:
    # given a URL whose port nobody listens on
    store = open_store(
        f"tablestore+http://127.0.0.1:{_closed_port()}/{OTS_INSTANCE}/t", credentials=fake_credentials
    )
    started = time.monotonic()
    # when a claim is made / then it fails closed within a couple of seconds, naming the endpoint
    with pytest.raises(
        StateStoreUnavailable, match=r"cannot reach the Tablestore table 't'.*http://127\.0\.0\.1:\d+"
    ) as caught:
        store.claim(["k"], owner="o", detail="", lease_ms=1, budget_window_ms=1, now_ms=0)
    assert time.monotonic() - started < 2
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None
    store.close()


def test_a_tablestore_that_never_answers_fails_closed_within_the_read_timeout() -> None:
    # given a server that accepts connections and never replies
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    store = TablestoreStateStore(
        f"http://127.0.0.1:{port}",
        OTS_INSTANCE,
        "t",
        credentials=fake_credentials,
        timeouts=Timeouts(read_s=0.5),
    )
    started = time.monotonic()
    try:
        # when a claim is made / then it gives up after the read timeout, once (a POST is never resent)
        with pytest.raises(StateStoreUnavailable, match="cannot reach"):
            store.claim(["k"], owner="o", detail="", lease_ms=1, budget_window_ms=1, now_ms=0)
        assert time.monotonic() - started < 1.5
    finally:
        store.close()
        listener.close()


def test_tablestore_that_stops_mid_test_makes_every_operation_unavailable() -> None:
    # given a working store on a private server
    server = TablestoreServer(
        access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN, instance=OTS_INSTANCE
    )
    server.start()
    store = open_store(server.url, credentials=fake_credentials)
    try:
        store.claim(["k"], owner="o", detail="", lease_ms=10, budget_window_ms=10, now_ms=0)
        # when the server goes away / then claim, complete and release all fail closed
        server.stop()
        with pytest.raises(StateStoreUnavailable, match=r"127\.0\.0\.1:\d+"):
            store.claim(["k"], owner="o", detail="", lease_ms=10, budget_window_ms=10, now_ms=1)
        with pytest.raises(StateStoreUnavailable):
            store.complete(["k"], owner="o", dedupe_window_ms=1, budget_window_ms=1, now_ms=2)
        with pytest.raises(StateStoreUnavailable):
            store.release(["k"], owner="o")
    finally:
        store.close()
        server.stop()


def test_a_closed_tablestore_store_is_unavailable(tablestore_url: str) -> None:
    store = open_store(tablestore_url, credentials=fake_credentials)
    store.close()
    with pytest.raises(StateStoreUnavailable, match="closed"):
        store.claim(["k"], owner="inv-a", detail="", lease_ms=1, budget_window_ms=1, now_ms=0)
