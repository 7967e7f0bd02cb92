/**
 * The Lua scripts of a redis shard. Each touches the keys of one (index,
 * bucket), which share a hash tag, so each runs on one Cluster slot. ioredis'
 * `defineCommand` sends EVAL once per connection, then EVALSHA (and falls back
 * on NOSCRIPT after a restart or SCRIPT FLUSH).
 *
 * Every script first checks the index marker and answers -1 when it is
 * missing, which the client turns into INDEX_NOT_FOUND: a write can never land
 * in a dropped index. Arrays are returned as `{unpack(t)}` and never hold
 * nil/false (Redis would cut the array there).
 */

/** How many expired keys a write with a ttl reclaims from the members set on its way (bounds the work per call). */
export const SWEEP_PER_WRITE = 8

/** Most members one scan call reads (Lua's unpack limit is about 8000 values). */
export const SCAN_CHUNK = 1000

/** Members a drop deletes per call, so dropping a big index never blocks Redis for long. */
export const DROP_CHUNK = 1000

export interface ScriptDef { numberOfKeys: number; lua: string }

/** Most requests one batched command carries (one MGET, one write script call): bounds its run time, and the
 * write script's `unpack` of 2 values per write stays far below Lua's stack limit (about 8000). */
export const GROUP_MAX = 1000

/**
 * The writes of one batch to one (index, bucket) with the same options, in one call: the index marker is
 * checked once for all of them. KEYS: marker, members, expiries. ARGV: nx (1/0), ttl ms (0 = none), then
 * n pairs (data key, json), then n pairs (32-bit hash, key), so the plain case hands both halves to MSET and
 * ZADD as they are, with no Lua loop. Answers -1 no index; n (all written) for plain writes; else one
 * character per write, '1' written / '0' not written (nx found the key).
 */
const writeMany: ScriptDef = {
  numberOfKeys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local nx = ARGV[1]
local ttl = ARGV[2]
local n = math.floor((#ARGV - 2) / 4)
local z = 2 * n + 3
if nx == '0' and ttl == '0' then
  redis.call('MSET', unpack(ARGV, 3, z - 1))
  redis.call('ZADD', KEYS[2], unpack(ARGV, z, #ARGV))
  return n
end
local now
if ttl ~= '0' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local done, members, expiries = {}, {}, {}
for i = 0, n - 1 do
  local dk = ARGV[3 + 2 * i]
  local v = ARGV[4 + 2 * i]
  local ok
  if ttl == '0' then ok = redis.call('SET', dk, v, 'NX')
  elseif nx == '1' then ok = redis.call('SET', dk, v, 'NX', 'PX', ttl)
  else ok = redis.call('SET', dk, v, 'PX', ttl) end
  if ok then
    local k = ARGV[z + 2 * i + 1]
    done[i + 1] = '1'
    members[#members + 1] = ARGV[z + 2 * i]
    members[#members + 1] = k
    if now then
      expiries[#expiries + 1] = now + tonumber(ttl)
      expiries[#expiries + 1] = k
    end
  else
    done[i + 1] = '0'
  end
end
if #members > 0 then redis.call('ZADD', KEYS[2], unpack(members)) end
-- Only writes with a ttl record expiries and sweep due ones (up to ${SWEEP_PER_WRITE} per write): plain writes
-- stay at three calls, and as long as ttl writes go on they reclaim members faster than keys expire.
if now and #expiries > 0 then
  redis.call('ZADD', KEYS[3], unpack(expiries))
  -- the data keys are a data key of this call less its user key
  local prefix = string.sub(ARGV[3], 1, #ARGV[3] - #ARGV[z + 1])
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, ${SWEEP_PER_WRITE / 2} * #expiries)
  for _, m in ipairs(due) do
    if redis.call('EXISTS', prefix .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
    redis.call('ZREM', KEYS[3], m)
  end
end
return table.concat(done)`,
}

/** KEYS: marker, data. Answers 1/0, or -1 no index. */
const has: ScriptDef = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('EXISTS', KEYS[2])`,
}

/** KEYS: marker, members, data. ARGV: key. Answers the JSON text, 0 when absent, -1 no index. */
const pop: ScriptDef = {
  numberOfKeys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local v = redis.call('GETDEL', KEYS[3])
if not v then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return v`,
}

/** KEYS: marker, members, data. ARGV: key. Answers 1/0, or -1 no index. */
const remove: ScriptDef = {
  numberOfKeys: 3,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return n`,
}

/**
 * One page of one bucket, in hash order. The position is (score, skip): the
 * hash of the last key seen and how many keys with that very hash were seen.
 * KEYS: marker, members. ARGV: data prefix, score ('-inf' to start), skip, count, values (1/0).
 * Answers -1 no index, else {done (1/0), score, skip, key1, [doc1,] key2, ...}.
 * Members whose key is gone (expired, evicted) are removed on the way.
 */
const scan: ScriptDef = {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local count = tonumber(ARGV[4])
local r = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', ARGV[3], count)
local n = #r / 2
local score = ARGV[2]
local skip = tonumber(ARGV[3])
local out = {0, '', 0}
if n < count then out[1] = 1 end
for i = 1, n do
  local m = r[2 * i - 1]
  local s = r[2 * i]
  if s ~= score then score = s; skip = 0 end
  local v
  if ARGV[5] == '1' then v = redis.call('GET', ARGV[1] .. m) else v = redis.call('EXISTS', ARGV[1] .. m) == 1 end
  if v then
    skip = skip + 1
    out[#out + 1] = m
    if ARGV[5] == '1' then out[#out + 1] = v end
  else
    redis.call('ZREM', KEYS[2], m)
  end
end
out[2] = score
out[3] = skip
return {unpack(out)}`,
}

/**
 * Deletes up to DROP_CHUNK keys of a dropped index's bucket.
 * KEYS: members, expiries. ARGV: data prefix. Answers how many members it took.
 */
const drop: ScriptDef = {
  numberOfKeys: 2,
  lua: `
local m = redis.call('ZRANGE', KEYS[1], 0, ${DROP_CHUNK - 1})
for _, k in ipairs(m) do redis.call('UNLINK', ARGV[1] .. k) end
if #m > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #m - 1) end
if #m < ${DROP_CHUNK} then redis.call('DEL', KEYS[2]) end
return #m`,
}

/**
 * Members per equal-width range of hashes. KEYS: members. ARGV: the range
 * bounds b0 < b1 < ... < bn; counts [b0,b1), ..., [bn-1, +inf).
 */
const histogram: ScriptDef = {
  numberOfKeys: 1,
  lua: `
local out = {}
for i = 1, #ARGV - 1 do
  local hi = '(' .. ARGV[i + 1]
  if i == #ARGV - 1 then hi = '+inf' end
  out[i] = redis.call('ZCOUNT', KEYS[1], ARGV[i], hi)
end
return {unpack(out)}`,
}

export const SCRIPTS = { pyWriteMany: writeMany, pyHas: has, pyPop: pop, pyRemove: remove, pyScan: scan, pyDrop: drop, pyHistogram: histogram }
export type ScriptName = keyof typeof SCRIPTS
