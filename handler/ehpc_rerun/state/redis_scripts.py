"""The Lua scripts of the Redis state store (:mod:`ehpc_rerun.state.redis`): one per operation.

Redis runs a script alone, so each is atomic over all its keys; one EVALSHA is one round trip. Numbers
that are stored (expiries, physical TTLs) are computed in Python and passed as strings: Lua numbers are
doubles and ``tostring`` would turn large ones into exponent notation.

Layout, per user key ``k``: ``<prefix>rec:<k>`` hash (status, owner, detail, at_ms, expires_ms and,
on a lease stamped by mark_sent, sent_ms), ``<prefix>hist:<k>`` sorted set of reruns scored by at_ms,
``<prefix>doc:<k>`` hash (value, version, expires_ms) -- a document, in a namespace of its own.
"""

from __future__ import annotations

# KEYS: rec_1, hist_1, ..., rec_n, hist_n.  ARGV: now, expires, px, cutoff, owner, detail.
# Reply: 8 items per key: code, status, owner, detail, at_ms, expires_ms, sent_ms, reruns_in_window.
# code 0: blocked by the live record described; 1: acquired; 2: acquired by replacing the expired
# in-progress lease of another owner, the one described. sent_ms is '' when the lease was never marked.
CLAIM = """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local rec, hist = KEYS[i], KEYS[i + 1]
  local f = redis.call('HMGET', rec, 'status', 'owner', 'detail', 'at_ms', 'expires_ms', 'sent_ms')
  local expires = f[5] and tonumber(f[5])
  local code = 0
  if not (expires and expires > now) then
    code = 1
    if f[1] == 'in_progress' and f[2] and f[2] ~= ARGV[5] then code = 2 end
    redis.call('DEL', rec)
    redis.call('HSET', rec, 'status', 'in_progress', 'owner', ARGV[5], 'detail', ARGV[6],
               'at_ms', ARGV[1], 'expires_ms', ARGV[2])
    redis.call('PEXPIRE', rec, ARGV[3])
  end
  table.insert(out, code)
  if code == 1 then
    for _ = 1, 6 do table.insert(out, '') end
  else
    table.insert(out, f[1] or '')
    table.insert(out, f[2] or '')
    table.insert(out, f[3] or '')
    table.insert(out, f[4] or '0')
    table.insert(out, f[5] or '0')
    table.insert(out, f[6] or '')
  end
  redis.call('ZREMRANGEBYSCORE', hist, '-inf', ARGV[4])
  table.insert(out, redis.call('ZCOUNT', hist, '(' .. ARGV[4], '+inf'))
end
return out
"""
CLAIM_FIELDS_PER_KEY = 8

# KEYS as for claim.  ARGV: owner, now, expires, px, cutoff, history_px, member_1, ..., member_n.
# Reply: how many done records were written (keys whose lease was lost to a live record are not).
COMPLETE = """
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
RELEASE = """
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

# KEYS: rec_1, ..., rec_n.  ARGV: owner, now, retain_px.  Stamps our live leases only, and keeps each
# stamped lease retain_px from now (past its expiry: a late claim must still see and report it).
# Reply: how many were stamped.
MARK_SENT = """
local now = tonumber(ARGV[2])
local n = 0
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'status', 'owner', 'expires_ms')
  local expires = f[3] and tonumber(f[3])
  if f[1] == 'in_progress' and f[2] == ARGV[1] and expires and expires > now then
    redis.call('HSET', KEYS[i], 'sent_ms', ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
    n = n + 1
  end
end
return n
"""

# KEYS: doc_1, ..., doc_n.  ARGV: now.
# Reply: 3 items per key: value, version, expires_ms -- all '' when there is no live document.
READ_DOCS = """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'value', 'version', 'expires_ms')
  local expires = f[3] and tonumber(f[3])
  if f[1] and f[2] and expires and expires > now then
    table.insert(out, f[1])
    table.insert(out, f[2])
    table.insert(out, f[3])
  else
    for _ = 1, 3 do table.insert(out, '') end
  end
end
return out
"""
READ_DOCS_FIELDS_PER_KEY = 3

# KEYS: doc_1, ..., doc_n (a key may repeat: writes apply in order, each seeing the one before).
# ARGV: now, then 5 per write: op ('set' | 'del'), condition ('none' | 'any' | <version>), value,
# expires_ms, px.  Reply: 1 where the condition held and the write applied, else 0.
WRITE_DOCS = """
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local a = 1 + (i - 1) * 5
  local op, cond = ARGV[a + 1], ARGV[a + 2]
  local f = redis.call('HMGET', KEYS[i], 'version', 'expires_ms')
  local expires = f[2] and tonumber(f[2])
  local stored = (f[1] and tonumber(f[1])) or 0
  local live = nil
  if f[1] and expires and expires > now then live = stored end
  local ok
  if cond == 'any' then ok = true
  elseif cond == 'none' then ok = (live == nil)
  else ok = (live ~= nil and live == tonumber(cond)) end
  if ok then
    if op == 'del' then
      if f[1] then  -- a tombstone keeps the version (never reused: no ABA), not live, for px ms
        redis.call('HSET', KEYS[i], 'value', '', 'version', stored + 1, 'expires_ms', ARGV[1])
        redis.call('PEXPIRE', KEYS[i], ARGV[a + 5])
      end
    else
      redis.call('HSET', KEYS[i], 'value', ARGV[a + 3], 'version', stored + 1,
                 'expires_ms', ARGV[a + 4])
      redis.call('PEXPIRE', KEYS[i], ARGV[a + 5])
    end
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
return out
"""

ALL = (CLAIM, COMPLETE, RELEASE, MARK_SENT, READ_DOCS, WRITE_DOCS)
