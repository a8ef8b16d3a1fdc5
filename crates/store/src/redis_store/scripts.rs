//! Lua scripts: each runs atomically on the server (Redis executes a script with nothing
//! interleaved), which is what makes [`TRANSACT`] all-or-nothing and lets a read see one
//! consistent state.
//!
//! Numbers that go back to Rust as strings (revisions) are formatted with `%d`: Lua 5.1 holds
//! them as doubles and its default formatting would switch to exponent notation for large
//! values. Every condition is checked before the first write, and the writes cannot fail on
//! keys of the right type, so a script never stops half-way through its writes (Redis has no
//! rollback).

/// Conditions + writes of one [`Transaction`](crate::Transaction).
///
/// KEYS: 1 revision counter, 2 record index (zset, score 0, member = user key), 3 TTL index
/// (zset, score = expiry in ms), then per condition its record key, per put/delete its record
/// key, per append its stream and its sequence counter.
/// ARGV: 1 number of conditions, 2 number of writes, then per condition (kind, argument) with
/// kind `a` absent, `e` exists, `r` revision is, `v` value equals; per write (kind, user key,
/// value or payload, TTL ms or 0) with kind `p` put, `d` delete, `l` append.
/// Returns `{0, index[, current revision]}` when a condition fails, else
/// `{1, revision or 0, records deleted, seq of each append…}`.
pub(super) const TRANSACT: &str = r#"
local nc = tonumber(ARGV[1])
local nw = tonumber(ARGV[2])
local a = 3
local k = 4
for i = 1, nc do
  local kind = ARGV[a]
  local arg = ARGV[a + 1]
  a = a + 2
  local key = KEYS[k]
  k = k + 1
  local rev = redis.call('HGET', key, 'r')
  local ok
  if kind == 'a' then
    ok = not rev
  elseif kind == 'e' then
    ok = rev ~= false
  elseif kind == 'r' then
    ok = rev == arg
  else
    ok = rev ~= false and redis.call('HGET', key, 'v') == arg
  end
  if not ok then
    if rev then
      return {0, i - 1, rev}
    end
    return {0, i - 1}
  end
end
local rev = false
local deleted = 0
local now = false
local out = {1, 0, 0}
for i = 1, nw do
  local kind = ARGV[a]
  local ukey = ARGV[a + 1]
  local value = ARGV[a + 2]
  local ttl = tonumber(ARGV[a + 3])
  a = a + 4
  if kind == 'l' then
    local seq = redis.call('INCR', KEYS[k + 1])
    redis.call('XADD', KEYS[k], string.format('0-%d', seq), 'p', value)
    k = k + 2
    out[#out + 1] = seq
  else
    local key = KEYS[k]
    k = k + 1
    if not rev then
      rev = string.format('%d', redis.call('INCR', KEYS[1]))
    end
    if kind == 'p' then
      -- Both fields are overwritten; the old TTL is replaced or removed below.
      redis.call('HSET', key, 'v', value, 'r', rev)
      redis.call('ZADD', KEYS[2], 0, ukey)
      if ttl > 0 then
        if not now then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        redis.call('PEXPIRE', key, ttl)
        redis.call('ZADD', KEYS[3], now + ttl, ukey)
      else
        redis.call('PERSIST', key)
        redis.call('ZREM', KEYS[3], ukey)
      end
    else
      deleted = deleted + redis.call('DEL', key)
      redis.call('ZREM', KEYS[2], ukey)
      redis.call('ZREM', KEYS[3], ukey)
    end
  end
end
if rev then
  out[2] = tonumber(rev)
end
out[3] = deleted
return out
"#;

/// Several records from one consistent state. KEYS: the record keys.
/// Returns value, revision for each key (`false`/nil where absent).
pub(super) const GET_MANY: &str = r#"
local out = {}
for i, key in ipairs(KEYS) do
  local vr = redis.call('HMGET', key, 'v', 'r')
  out[2 * i - 1] = vr[1]
  out[2 * i] = vr[2]
end
return out
"#;

/// One page of a prefix scan over the record index.
/// KEYS: 1 record index. ARGV: 1 record key prefix, 2 lex min, 3 lex max, 4 limit, 5 how many
/// missing (expired, not yet swept) members to skip before returning early.
/// Returns `{more (0/1), resume key or '', key, value, revision, key, value, revision…}`.
pub(super) const SCAN: &str = r#"
local limit = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local min = ARGV[2]
local out = {0, ''}
local n = 0
local skipped = 0
local last = false
while true do
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, ARGV[3], 'LIMIT', 0, 128)
  if #batch == 0 then
    return out
  end
  for _, ukey in ipairs(batch) do
    if n == limit then
      out[1] = 1
      out[2] = last
      return out
    end
    local vr = redis.call('HMGET', ARGV[1] .. ukey, 'v', 'r')
    if vr[1] then
      out[#out + 1] = ukey
      out[#out + 1] = vr[1]
      out[#out + 1] = vr[2]
      n = n + 1
      last = ukey
    else
      skipped = skipped + 1
      if skipped > budget then
        out[1] = 1
        out[2] = ukey
        return out
      end
    end
  end
  min = '(' .. batch[#batch]
end
"#;

/// Removes index members of records that expired. KEYS: 1 record index, 2 TTL index.
/// ARGV: 1 record key prefix, 2 most members to look at. Returns how many were removed.
pub(super) const SWEEP: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local removed = 0
for _, ukey in ipairs(due) do
  if redis.call('EXISTS', ARGV[1] .. ukey) == 0 then
    redis.call('ZREM', KEYS[1], ukey)
    redis.call('ZREM', KEYS[2], ukey)
    removed = removed + 1
  end
end
return removed
"#;

/// Length, last sequence number and first retained entry id of a log.
/// KEYS: 1 stream, 2 sequence counter. Returns `{len, last seq or '0', first id or ''}`.
pub(super) const LOG_INFO: &str = r#"
local len = redis.call('XLEN', KEYS[1])
local last = redis.call('GET', KEYS[2])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first_id = ''
if #first > 0 then
  first_id = first[1][1]
end
return {len, last or '0', first_id}
"#;
