"""The three state stores for ``bench_stores``: a SQLite directory, a real ``redis-server`` on 127.0.0.1
(started with the tests' own helper, ``tests/state/redis_server.py``) and the bundled local Tablestore
server (a thread of this process), plus the round-trip counters of each.

Round trips are counted where they are visible from outside the client:

* Tablestore: the server's ``calls`` Counter (one entry per HTTP request it received);
* Redis: ``INFO commandstats`` deltas, read on a separate connection. Commands our Lua scripts run
  inside the server are counted there too, so the commands the scripts call (read from the scripts'
  own text) are left out: what remains is what the client sent (EVALSHA, SCRIPT LOAD, HELLO, ...);
* SQLite: no round trip at all (a local file); one ``BEGIN IMMEDIATE`` transaction per operation,
  by design (``state/sqlite.py``), not counted here.

Only made-up credentials and 127.0.0.1 are used.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import AK_ID, AK_SECRET, HANDLER, ROOT, STS_TOKEN, Figure, figure

if str(HANDLER) not in sys.path:
    sys.path.insert(0, str(HANDLER))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DAY_MS = 86_400_000


@dataclass
class Stores:
    tmp: Path
    tablestore: Any  # ehpc_rerun.otsserver.TablestoreServer, started
    redis_url: str | None  # None: not measured
    redis_missing: str  # why not
    tablestore_nodelay: bool  # TCP_NODELAY set on the local server's connections (see _nodelay)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.tmp / name}.db"  # tmp is absolute: sqlite:////abs/path.db

    def urls(self, sqlite_name: str) -> dict[str, str]:
        """``{store label: EHPC_RERUN_STATE}`` for every store that runs."""
        out = {"SQLite": self.sqlite_url(sqlite_name)}
        if self.redis_url is not None:
            out["Redis"] = self.redis_url
        out["Tablestore"] = self.tablestore.url
        return out


@contextmanager
def stores() -> Iterator[Stores]:
    from ehpc_rerun.otsserver import TablestoreServer

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ehpc-bench-stores-")))
        ots = stack.enter_context(
            TablestoreServer(access_key_id=AK_ID, access_key_secret=AK_SECRET, security_token=STS_TOKEN)
        )
        nodelay_set = _nodelay(ots)
        redis_url, missing = None, ""
        try:
            from tests.state.redis_server import RedisServerMissing, start_redis, stop_redis
        except ImportError as exc:  # the tests' helper moved: say so instead of guessing a start-up
            missing = f"tests/state/redis_server.py not importable ({exc})"
        else:
            try:
                process, redis_url = start_redis()
            except RedisServerMissing:
                missing = "redis-server missing (apt-get install -y redis-server)"
            else:
                stack.callback(stop_redis, process)
        yield Stores(tmp, ots, redis_url, missing, nodelay_set)


def _nodelay(server: Any) -> bool:
    """TCP_NODELAY on the local Tablestore server's connections (True if it could be set).

    Its handler writes the headers and then the body of an answer in two ``send`` calls; without
    TCP_NODELAY, Nagle holds the body until the client ACKs the headers, and the client delays that ACK
    (~40 ms on Linux): every round trip then costs ~44 ms instead of ~1 ms, an artefact of the local
    server that a real Tablestore endpoint does not have. ``StreamRequestHandler.disable_nagle_algorithm``
    is the standard library's switch for it (set here on the running server's handler class only).
    """
    httpd = getattr(server, "_httpd", None)
    handler = getattr(httpd, "RequestHandlerClass", None)
    if handler is None:
        return False
    handler.disable_nagle_algorithm = True
    return True


def credentials() -> Any:
    from ehpc_rerun.credentials import Credentials

    return Credentials(AK_ID, AK_SECRET, STS_TOKEN)


def open_store(url: str) -> Any:
    from ehpc_rerun.state import open_store as open_

    return open_(url, credentials=credentials)


def claim(store: Any, keys: list[str], now_ms: int) -> None:
    results = store.claim(
        keys, owner="bench", detail="bench", lease_ms=60_000, budget_window_ms=DAY_MS, now_ms=now_ms
    )
    if not all(r.acquired for r in results):
        raise RuntimeError("a fresh key was not acquired")


def complete(store: Any, keys: list[str], now_ms: int) -> None:
    store.complete(keys, owner="bench", dedupe_window_ms=600_000, budget_window_ms=DAY_MS, now_ms=now_ms)


# --- round-trip counters ------------------------------------------------------------------------------


def _sent(stat: dict[str, Any]) -> int:
    return int(stat["calls"]) + int(stat.get("rejected_calls", 0))


class RedisCounter:
    """What the client sent, from two sides: commands from ``INFO commandstats`` deltas (see the module
    docstring), and round trips as the writes redis-py made (``send_packed_command``: one per command,
    one per pipeline), counted while the counter is open; the monitor's own ``INFO`` writes (one per
    snapshot) are taken off both."""

    def __init__(self, url: str) -> None:
        import redis
        from redis.connection import AbstractConnection

        from ehpc_rerun.state import redis as redis_store

        self._monitor = redis.Redis.from_url(url)
        self._monitor.ping()  # its own connection set-up is done before the first snapshot
        # The Lua scripts live in state/redis*.py; every command they can run is named there.
        sources = Path(redis_store.__file__).parent.glob("redis*.py")
        scripts = " ".join(path.read_text(encoding="utf-8") for path in sources)
        found = re.findall(r"redis\.p?call\(\s*['\"](\w+)['\"]", scripts)
        self.inside_scripts = {name.lower() for name in found}
        self._writes = 0
        self._cls = AbstractConnection
        self._real_send = AbstractConnection.send_packed_command
        real_send = self._real_send

        def counted(conn: Any, *args: Any, **kwargs: Any) -> Any:
            self._writes += 1
            return real_send(conn, *args, **kwargs)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
        self._before = self._snapshot()

    def _snapshot(self) -> Counter[str]:
        stats = self._monitor.info("commandstats")
        self._writes -= 1  # that INFO
        # calls: executed; rejected_calls: refused before running (e.g. a subcommand this server lacks)
        return Counter({k.removeprefix("cmdstat_"): _sent(v) for k, v in stats.items()})

    def take(self) -> tuple[Counter[str], int]:
        """Client commands and round trips since the last ``take``."""
        now = self._snapshot()
        delta, self._before = now - self._before, now
        for name in [*self.inside_scripts, "info"]:
            delta.pop(name, None)
        writes, self._writes = self._writes, 0
        return delta, writes

    def close(self) -> None:
        self._cls.send_packed_command = self._real_send  # type: ignore[method-assign]
        self._monitor.close()


def tablestore_take(server: Any) -> tuple[Counter[str], int]:
    """HTTP requests (by action) since the last take: each one a round trip."""
    delta = Counter(server.calls)
    server.reset_calls()
    return delta, sum(delta.values())


def describe(calls: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"


EXPECTED = {
    "Redis": "1 EVALSHA per operation",
    "Tablestore": "1 BatchGetRow + 1 BatchWriteRow per operation (<= 100 keys)",
}
Taken = tuple[Counter[str], int]  # (what was sent, by command or action; round trips)


# --- round trips, counted in this process ------------------------------------------------------------


def round_trips(st: Stores) -> dict[str, dict[str, Taken]]:
    """``{store: {case: (requests, round trips)}}`` for a fresh store object: its opening, its first
    claim + complete (1 job), then claim + complete of 1 and of 100 jobs."""
    out: dict[str, dict[str, Taken]] = {}
    for label, url in st.urls("round-trips").items():
        if label == "SQLite":
            continue
        take: Callable[[], Taken]
        if label == "Redis":
            counter = RedisCounter(url)
            take, close = counter.take, counter.close
        else:
            tablestore_take(st.tablestore)
            take, close = (lambda: tablestore_take(st.tablestore)), (lambda: None)
        cases: dict[str, Taken] = {}
        try:
            store = open_store(url)
            cases["open"] = take()
            now = int(time.time() * 1000)
            for case, size in (("first 1", 1), ("1", 1), ("100", 100)):
                keys = [f"rt-{uuid.uuid4().hex}-{i}" for i in range(size)]
                claim(store, keys, now)
                cases[f"claim {case}"] = take()
                complete(store, keys, now + 1)
                cases[f"complete {case}"] = take()
            store.close()
        finally:
            close()
        out[label] = cases
    return out


def round_trip_figures(trips: dict[str, dict[str, Taken]], sizes: tuple[int, ...]) -> list[Figure]:
    figures = [
        figure(
            f"SQLite: claim + complete, {size} job{'s' if size > 1 else ''}: round trips",
            0,
            "round trips",
            "0 (local file)",
            None,
            "a local file: 2 transactions (one BEGIN IMMEDIATE ... COMMIT per operation, by design; "
            "not counted)",
        )
        for size in sizes
    ]
    for label, cases in trips.items():
        for size in sizes:
            claim, claim_trips = cases[f"claim {size}"]
            complete, complete_trips = cases[f"complete {size}"]
            total = claim_trips + complete_trips
            ok = claim == complete and claim_trips == complete_trips == (1 if label == "Redis" else 2)
            detail = f"claim: {describe(claim)}; complete: {describe(complete)}"
            if size == 1:
                opening, opening_trips = cases["open"]
                first = cases["claim first 1"][1] + cases["complete first 1"][1]
                detail += (
                    f"; a fresh store object: opening {opening_trips} round trip(s) ({describe(opening)}), "
                    f"its first claim + complete {first}"
                )
            figures.append(
                figure(
                    f"{label}: claim + complete, {size} job{'s' if size > 1 else ''}: round trips",
                    total,
                    "round trips",
                    f"2 x ({EXPECTED[label]})",
                    ok,
                    detail,
                )
            )
    return figures
