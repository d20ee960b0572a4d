"""A :class:`~ehpc_rerun.state.base.StateStore` in Redis or Alibaba Tair (redis-py).

Only plain commands and Lua (EVALSHA) are used, so any Redis-compatible server works; no modules.
Each operation is one script call: one round trip, and atomic because Redis runs a script alone.

Layout (the scripts are in :mod:`~ehpc_rerun.state.redis_scripts`), per user key ``k``:
``<prefix>rec:<k>`` hash (status, owner, detail, at_ms, expires_ms, sent_ms), ``<prefix>hist:<k>`` sorted
set of reruns scored by ``at_ms``, ``<prefix>doc:<k>`` hash (value, version, expires_ms). Expiry is
logical (``expires_ms`` against the caller's ``now_ms``); PEXPIRE only collects garbage, with slack.
On a cluster (or a Tair proxy that checks slots) every key of one script must share a slot: give
the prefix a hash tag, e.g. ``{ehpc-rerun}:v1:``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from ehpc_rerun.errors import ConfigError, StateStoreUnavailable

from . import redis_scripts as lua
from .base import (
    ANY_VERSION,
    DOC_TOMBSTONE_MS,
    SENT_LEASE_RETENTION_MS,
    ClaimResult,
    Doc,
    DocWrite,
    RecordStatus,
    StateRecord,
)
from .sqlite_docs import check as check_doc_writes

# Physical TTLs outlive logical expiry by this much, so clock skew between the caller and the
# server never lets Redis drop a record that is still logically live.
GC_SLACK_MS = 60_000


def _status(value: str) -> RecordStatus:
    return "done" if value == "done" else "in_progress"


class RedisStateStore:
    """Dedupe leases and rerun history in Redis/Tair at ``url`` (``redis://`` or ``rediss://``)."""

    def __init__(self, url: str, *, prefix: str = "ehpc-rerun:v1:", socket_timeout_s: float = 2.0) -> None:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "localhost", parts.port or 6379
        except ValueError:
            raise ConfigError(
                "EHPC_RERUN_STATE is not a valid redis:// URL (check the host and port)"
            ) from None
        self._prefix = prefix
        self._password = parts.password
        self._where = f"{host}:{port}{parts.path or '/0'}"
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
                decode_responses=True,
                # One quick retry covers a pooled connection the server closed while the FC
                # instance was frozen; more would only delay failing closed.
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
            )
        except ValueError:
            raise ConfigError(f"EHPC_RERUN_STATE: cannot parse the Redis URL for {self._where}") from None
        self._claim = self._client.register_script(lua.CLAIM)
        self._complete = self._client.register_script(lua.COMPLETE)
        self._release = self._client.register_script(lua.RELEASE)
        self._mark_sent = self._client.register_script(lua.MARK_SENT)
        self._read_docs = self._client.register_script(lua.READ_DOCS)
        self._write_docs = self._client.register_script(lua.WRITE_DOCS)
        # Fail at start rather than on the first event, and load the scripts in the same round
        # trip so the first claim is a single EVALSHA.
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.ping()
            for script in lua.ALL:
                pipe.script_load(script)
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            self._client.close()
            raise self._unavailable(exc) from None

    def __repr__(self) -> str:
        return f"RedisStateStore({self._where!r}, prefix={self._prefix!r})"

    def claim(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        detail: str,
        lease_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> list[ClaimResult]:
        _check_non_negative(lease_ms=lease_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return []
        args: list[str | int] = [
            now_ms,
            now_ms + lease_ms,
            lease_ms + GC_SLACK_MS,
            now_ms - budget_window_ms,
            owner,
            detail,
        ]
        reply = self._run(self._claim, self._key_pairs(keys), args)
        try:
            return _parse_claim_reply(keys, reply)
        except (TypeError, ValueError):
            raise self._foreign() from None

    def complete(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        dedupe_window_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> None:
        _check_non_negative(dedupe_window_ms=dedupe_window_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return
        args: list[str | int] = [
            owner,
            now_ms,
            now_ms + dedupe_window_ms,
            dedupe_window_ms + GC_SLACK_MS,
            now_ms - budget_window_ms,
            budget_window_ms + GC_SLACK_MS,
        ]
        # Unique per rerun, so two reruns of a key in the same millisecond still count twice
        # unless it is the same owner retrying the same completion.
        args.extend(f"{owner}:{now_ms}:{key}" for key in keys)
        self._run(self._complete, self._key_pairs(keys), args)

    def release(self, keys: Sequence[str], *, owner: str) -> None:
        if not keys:
            return
        self._run(self._release, [f"{self._prefix}rec:{key}" for key in keys], [owner])

    def mark_sent(self, keys: Sequence[str], *, owner: str, now_ms: int) -> None:
        if keys:
            # kept well past its expiry (SENT_LEASE_RETENTION_MS), so that a late delivery still sees it
            retain = SENT_LEASE_RETENTION_MS + GC_SLACK_MS
            self._run(self._mark_sent, [f"{self._prefix}rec:{key}" for key in keys], [owner, now_ms, retain])

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        reply = self._run(self._read_docs, [f"{self._prefix}doc:{key}" for key in unique], [now_ms])
        try:
            return _parse_docs_reply(unique, reply)
        except (TypeError, ValueError):
            raise self._foreign() from None

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        check_doc_writes(writes)
        if not writes:
            return []
        args: list[str | int] = [now_ms]
        for w in writes:
            if w.if_version is None:
                condition = "none"
            elif w.if_version == ANY_VERSION:
                condition = "any"
            else:
                condition = str(int(w.if_version))
            if w.value is None:
                args.extend(("del", condition, "", 0, DOC_TOMBSTONE_MS))
            else:
                args.extend(("set", condition, w.value, now_ms + w.ttl_ms, w.ttl_ms + GC_SLACK_MS))
        reply = self._run(self._write_docs, [f"{self._prefix}doc:{w.key}" for w in writes], args)
        if not isinstance(reply, list) or len(reply) != len(writes):
            raise self._foreign()
        return [bool(item) for item in reply]

    def close(self) -> None:
        self._client.close()

    def _key_pairs(self, keys: Sequence[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            out.extend((f"{self._prefix}rec:{key}", f"{self._prefix}hist:{key}"))
        return out

    def _run(self, script: Script, keys: list[str], args: Sequence[str | int]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.exceptions.RedisError as exc:
            raise self._unavailable(exc) from None

    def _foreign(self) -> StateStoreUnavailable:
        # Only a foreign or hand-edited key under our prefix can get here: fail closed.
        return StateStoreUnavailable(
            f"unexpected reply from the Redis state store at {self._where}; "
            f"are other programs writing keys under the prefix {self._prefix!r}?"
        )

    def _unavailable(self, exc: BaseException) -> StateStoreUnavailable:
        text = str(exc)
        if self._password:
            for secret in {self._password, unquote(self._password)}:
                text = text.replace(secret, "***")
        text = text.rstrip(". ")
        return StateStoreUnavailable(
            f"cannot use the Redis state store at {self._where}: {type(exc).__name__}: {text}; "
            "check EHPC_RERUN_STATE, the password, the network path (FC needs VPC access to Tair) "
            "and the instance whitelist."
        )


def _parse_claim_reply(keys: Sequence[str], reply: object) -> list[ClaimResult]:
    width = lua.CLAIM_FIELDS_PER_KEY
    if not isinstance(reply, list) or len(reply) != width * len(keys):
        raise ValueError("reply does not have one row per key")
    results: list[ClaimResult] = []
    for index, key in enumerate(keys):
        code, status, owner, detail, at_ms, expires_ms, sent_ms, count = reply[
            index * width : (index + 1) * width
        ]
        described = None
        if code != 1:
            described = StateRecord(
                key,
                _status(status),
                str(owner),
                str(detail),
                int(at_ms),
                int(expires_ms),
                int(sent_ms) if sent_ms != "" else None,
            )
        existing = described if code == 0 else None
        taken_over = described if code == 2 else None
        results.append(ClaimResult(key, code != 0, existing, int(count), taken_over))
    return results


def _parse_docs_reply(keys: Sequence[str], reply: object) -> dict[str, Doc]:
    width = lua.READ_DOCS_FIELDS_PER_KEY
    if not isinstance(reply, list) or len(reply) != width * len(keys):
        raise ValueError("reply does not have one row per key")
    found: dict[str, Doc] = {}
    for index, key in enumerate(keys):
        value, version, expires_ms = reply[index * width : (index + 1) * width]
        if version != "":
            found[key] = Doc(key, str(value), int(version), int(expires_ms))
    return found


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
