"""A :class:`~ehpc_rerun.state.base.StateStore` in Redis or Alibaba Tair (redis-py).

Only plain commands and Lua (EVALSHA) are used, so any Redis-compatible server works; no modules.
Each operation is one script call: one round trip, and atomic because Redis runs a script alone.

Layout, per user key ``k``: ``<prefix>rec:<k>`` is a hash (status, owner, detail, at_ms,
expires_ms) and ``<prefix>hist:<k>`` a sorted set of reruns scored by ``at_ms``. Expiry is logical
(``expires_ms`` against the caller's ``now_ms``); PX/PEXPIRE only collect garbage, with slack.
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

from .base import ClaimResult, RecordStatus, StateRecord

# Physical TTLs outlive logical expiry by this much, so clock skew between the caller and the
# server never lets Redis drop a record that is still logically live.
GC_SLACK_MS = 60_000

# KEYS: rec_1, hist_1, ..., rec_n, hist_n.  ARGV: now, expires, px, cutoff, owner, detail.
# Reply: 7 items per key: acquired, status, owner, detail, at_ms, expires_ms, reruns_in_window.
_CLAIM = """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local rec, hist = KEYS[i], KEYS[i + 1]
  local f = redis.call('HMGET', rec, 'status', 'owner', 'detail', 'at_ms', 'expires_ms')
  local expires = f[5] and tonumber(f[5])
  if expires and expires > now then
    table.insert(out, 0)
    table.insert(out, f[1] or '')
    table.insert(out, f[2] or '')
    table.insert(out, f[3] or '')
    table.insert(out, f[4] or '0')
    table.insert(out, f[5])
  else
    redis.call('DEL', rec)
    redis.call('HSET', rec, 'status', 'in_progress', 'owner', ARGV[5], 'detail', ARGV[6],
               'at_ms', ARGV[1], 'expires_ms', ARGV[2])
    redis.call('PEXPIRE', rec, ARGV[3])
    table.insert(out, 1)
    for _ = 1, 5 do table.insert(out, '') end
  end
  redis.call('ZREMRANGEBYSCORE', hist, '-inf', ARGV[4])
  table.insert(out, redis.call('ZCOUNT', hist, '(' .. ARGV[4], '+inf'))
end
return out
"""

# KEYS as for claim.  ARGV: owner, now, expires, px, cutoff, history_px, member_1, ..., member_n.
# Reply: how many done records were written (keys whose lease was lost to a live record are not).
_COMPLETE = """
local owner, now = ARGV[1], tonumber(ARGV[2])
local written = 0
for i = 1, #KEYS, 2 do
  local rec, hist = KEYS[i], KEYS[i + 1]
  local f = redis.call('HMGET', rec, 'owner', 'detail', 'expires_ms')
  local expires = f[3] and tonumber(f[3])
  if not (f[1] and f[1] ~= owner and expires and expires > now) then
    local detail = (f[1] == owner and f[2]) or ''
    redis.call('DEL', rec)
    redis.call('HSET', rec, 'status', 'done', 'owner', owner, 'detail', detail,
               'at_ms', ARGV[2], 'expires_ms', ARGV[3])
    redis.call('PEXPIRE', rec, ARGV[4])
    written = written + 1
  end
  redis.call('ZADD', hist, ARGV[2], ARGV[6 + (i + 1) / 2])
  redis.call('ZREMRANGEBYSCORE', hist, '-inf', ARGV[5])
  redis.call('PEXPIRE', hist, ARGV[6])
end
return written
"""

# KEYS: rec_1, ..., rec_n.  ARGV: owner.  Compare-and-delete, so another owner's lease survives.
_RELEASE = """
local n = 0
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'owner')
  if f[1] == 'in_progress' and f[2] == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
"""

_FIELDS_PER_KEY = 7


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
        self._claim = self._client.register_script(_CLAIM)
        self._complete = self._client.register_script(_COMPLETE)
        self._release = self._client.register_script(_RELEASE)
        # Fail at start rather than on the first event, and load the scripts in the same round
        # trip so the first claim is a single EVALSHA.
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.ping()
            for script in (self._claim, self._complete, self._release):
                pipe.script_load(script.script)
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
            # Only a foreign or hand-edited record under our prefix can get here: fail closed.
            raise StateStoreUnavailable(
                f"unexpected reply from the Redis state store at {self._where}; "
                f"are other programs writing keys under the prefix {self._prefix!r}?"
            ) from None

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
    if not isinstance(reply, list) or len(reply) != _FIELDS_PER_KEY * len(keys):
        raise ValueError("reply does not have one row per key")
    results: list[ClaimResult] = []
    for index, key in enumerate(keys):
        acquired, status, owner, detail, at_ms, expires_ms, count = reply[
            index * _FIELDS_PER_KEY : (index + 1) * _FIELDS_PER_KEY
        ]
        existing = None
        if not acquired:
            existing = StateRecord(key, _status(status), str(owner), str(detail), int(at_ms), int(expires_ms))
        results.append(ClaimResult(key, bool(acquired), existing, int(count)))
    return results


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
