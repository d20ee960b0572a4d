"""The Tablestore state store's own properties, on the local Tablestore server with the official SDK:
round trips, races settled by the version condition, rotated credentials, the SDK version, a quiet stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import ConfigError, StateStoreUnavailable
from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state import open_store
from ehpc_rerun.state.tablestore import TablestoreStateStore

from .conftest import KEY_ID, OTS_INSTANCE, SECRET, TOKEN, fake_credentials
from .test_store_unavailable import _closed_port

LEASE = 60_000
DEDUPE = 900_000
BUDGET = 86_400_000
HANDLER_DIR = Path(__file__).resolve().parents[2] / "handler"


def _claim(store: TablestoreStateStore, keys: list[str], owner: str, now: int, lease: int = LEASE) -> Any:
    return store.claim(
        keys, owner=owner, detail=f"evt-{owner}", lease_ms=lease, budget_window_ms=BUDGET, now_ms=now
    )


def _complete(
    store: TablestoreStateStore, keys: list[str], owner: str, now: int, dedupe: int = DEDUPE
) -> None:
    store.complete(keys, owner=owner, dedupe_window_ms=dedupe, budget_window_ms=BUDGET, now_ms=now)


def _row(server: TablestoreServer, table: str, key: str) -> dict[str, Any] | None:
    return server.rows(table).get((key,))


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "gets", "writes"),
    [(1, 2, 2), (100, 2, 2), (250, 6, 4)],  # 250 keys: 100+100+50 reads and 200+50 writes, per operation
)
def test_claim_and_complete_cost_a_constant_number_of_requests(
    tablestore_server: TablestoreServer,
    open_ts: Callable[..., TablestoreStateStore],
    count: int,
    gets: int,
    writes: int,
) -> None:
    # given a fresh store and a batch of keys
    store = open_ts()
    keys = [f"ehpc-hz-c1/job-{i:04d}" for i in range(count)]
    tablestore_server.reset_calls()
    # when they are claimed and completed
    assert all(r.acquired for r in _claim(store, keys, "inv-a", now=0))
    _complete(store, keys, "inv-a", now=10)
    # then each operation was one BatchGetRow and one BatchWriteRow per documented chunk, nothing else
    assert dict(tablestore_server.calls) == {"BatchGetRow": gets, "BatchWriteRow": writes}


def test_a_blocked_claim_reads_but_writes_nothing(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore]
) -> None:
    store = open_ts()
    _claim(store, ["k"], "inv-a", now=0)
    tablestore_server.reset_calls()
    [result] = _claim(store, ["k"], "inv-b", now=1)
    assert not result.acquired
    assert dict(tablestore_server.calls) == {"BatchGetRow": 1}


# --- races ---------------------------------------------------------------------------------------


def _after_first_read(store: TablestoreStateStore, action: Callable[[], object]) -> None:
    """Run ``action`` (another instance's write) between ``store``'s first read and its write."""
    real = store._io.read
    done = threading.Event()

    def read(keys: Any) -> Any:
        rows = real(keys)
        if not done.is_set():
            done.set()
            action()
        return rows

    store._io.read = read  # type: ignore[method-assign]


def test_two_instances_taking_over_an_expired_lease_one_wins_by_the_version_condition(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given a lease of inv-old that expired at t=1000 (the row exists, version 1)
    a, b = open_ts(), open_ts()
    _claim(a, ["k"], "inv-old", now=0, lease=1_000)
    # and inv-b claiming the key right after inv-a read the stale row
    won_by_b: list[Any] = []
    _after_first_read(a, lambda: won_by_b.extend(_claim(b, ["k"], "inv-b", now=2_000)))
    tablestore_server.reset_calls()
    # when inv-a claims
    [result] = _claim(a, ["k"], "inv-a", now=2_000)
    # then inv-b acquired, inv-a's conditional write was refused and, on re-reading, it saw inv-b's lease
    assert won_by_b[0].acquired
    assert not result.acquired
    assert result.existing is not None and result.existing.owner == "inv-b"
    row = _row(tablestore_server, table, "k")
    assert row is not None and row["owner"] == "inv-b" and row["version"] == 2
    # (inv-a: read, write refused, read again; inv-b: read, write)
    assert dict(tablestore_server.calls) == {"BatchGetRow": 3, "BatchWriteRow": 2}


def test_two_completions_racing_on_one_key_both_count(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given inv-a's lease lapsed and inv-b took the key; both reruns happened
    a, b = open_ts(), open_ts()
    _claim(a, ["k"], "inv-a", now=0, lease=1_000)
    _claim(b, ["k"], "inv-b", now=2_000)
    # when inv-b completes between inv-a's read and inv-a's write
    _after_first_read(a, lambda: _complete(b, ["k"], "inv-b", now=2_500))
    _complete(a, ["k"], "inv-a", now=2_500)
    # then no update was lost: both reruns are in the history, and inv-b's record was made done by inv-b
    row = _row(tablestore_server, table, "k")
    assert row is not None
    assert sorted(entry["id"] for entry in json.loads(row["history"])) == ["inv-a:2500", "inv-b:2500"]
    assert _claim(a, ["k"], "inv-c", now=3_000)[0].reruns_in_window == 2


def test_a_key_still_contended_after_the_last_round_is_unavailable(tablestore_url: str) -> None:
    # given a store allowed a single round, and another instance writing between its read and write
    store = TablestoreStateStore(
        "http://127.0.0.1:" + tablestore_url.split(":")[2].split("/")[0],
        OTS_INSTANCE,
        tablestore_url.rsplit("/", 1)[1],
        credentials=fake_credentials,
        max_rounds=1,
    )
    other = open_store(tablestore_url, credentials=fake_credentials)
    _after_first_read(
        store, lambda: other.claim(["k"], owner="x", detail="", lease_ms=1, budget_window_ms=1, now_ms=0)
    )
    # when it claims / then it fails closed, saying why
    with pytest.raises(StateStoreUnavailable, match=r"still changed by other writers after 1 round\(s\)"):
        _claim(store, ["k"], "inv-a", now=0)
    store.close()
    other.close()


# --- credentials, missing tables, failures --------------------------------------------------------


def test_rotated_credentials_rebuild_the_client(open_ts: Callable[..., TablestoreStateStore]) -> None:
    # given credentials that FC replaces between invocations (the first ones are not accepted)
    current = [Credentials(KEY_ID, "an-old-secret", "an-old-token")]
    store = open_ts(credentials=lambda: current[0])
    with pytest.raises(StateStoreUnavailable):
        _claim(store, ["k"], "inv-a", now=0)
    # when the credentials change / then the next call uses the new ones
    current[0] = fake_credentials()
    assert _claim(store, ["k"], "inv-a", now=0)[0].acquired


def test_an_sdk_older_than_supported_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tablestore_url: str
) -> None:
    import tablestore

    monkeypatch.setattr(tablestore, "__version__", "5.2.1")
    with pytest.raises(ConfigError, match=r"tablestore SDK found is 5\.2\.1; .*needs tablestore>=5\.4\.1"):
        open_store(tablestore_url, credentials=fake_credentials)


# --- nothing on stdout ------------------------------------------------------------------------------


_USE_THE_STORE = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.{level}, format="%(name)s: %(message)s")
from ehpc_rerun.credentials import Credentials
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.state import open_store
creds = Credentials({key_id!r}, {secret!r}, {token!r})
store = open_store({url!r}, credentials=lambda: creds)
store.claim(["k"], owner="o", detail="", lease_ms=10, budget_window_ms=10, now_ms=0)
store.complete(["k"], owner="o", dedupe_window_ms=10, budget_window_ms=10, now_ms=1)
store.claim(["k"], owner="o", detail="", lease_ms=10, budget_window_ms=10, now_ms=2)
store.close()
for url, key in (({url!r}, "test-wrong-secret"), ({down!r}, {secret!r})):
    bad = open_store(url, credentials=lambda: Credentials({key_id!r}, key, {token!r}))
    try:
        bad.claim(["k"], owner="o", detail="", lease_ms=10, budget_window_ms=10, now_ms=0)
    except StateStoreUnavailable:
        pass
print("tablestore" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_importing_and_using_the_store_prints_nothing(tablestore_url: str, level: str) -> None:
    # given a fresh interpreter whose root logger writes to stdout (as a runtime may set it up)
    down = f"tablestore+http://127.0.0.1:{_closed_port()}/{OTS_INSTANCE}/t"
    code = _USE_THE_STORE.format(
        level=level, key_id=KEY_ID, secret=SECRET, token=TOKEN, url=tablestore_url, down=down
    )
    # when it imports the SDK, opens the store and uses it, failures included
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(HANDLER_DIR)},
    )
    # then the SDK wrote nothing anywhere (no import notice, no request or error lines)
    assert out.stderr.strip() == "True"
    if level == "INFO":
        assert out.stdout == ""
    else:
        # at DEBUG only urllib3 speaks (its own connection lines), never the SDK, never a secret
        loggers = {line.split(":", 1)[0] for line in out.stdout.splitlines()}
        assert loggers == {"urllib3.connectionpool"}
        assert SECRET not in out.stdout and TOKEN not in out.stdout
