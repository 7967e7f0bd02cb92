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

/**
 * KEYS: marker, members, expiries, data. ARGV: json, key, 32-bit hash, nx (1/0), ttl ms (0 = none).
 * Answers 1 written, 0 not written (nx found the key), -1 no index.
 * The four SET forms are spelled out: building an argument table costs more than the branches.
 */
const write: ScriptDef = {
  numberOfKeys: 4,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ok
local ttl = ARGV[5]
if ttl == '0' then
  if ARGV[4] == '1' then ok = redis.call('SET', KEYS[4], ARGV[1], 'NX') else ok = redis.call('SET', KEYS[4], ARGV[1]) end
else
  if ARGV[4] == '1' then ok = redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ttl) else ok = redis.call('SET', KEYS[4], ARGV[1], 'PX', ttl) end
end
if not ok then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
-- Only writes with a ttl record expiries and sweep due ones: plain writes stay at three calls,
-- and as long as ttl writes go on they reclaim members faster than keys expire.
if ttl ~= '0' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[3], now + tonumber(ttl), ARGV[2])
  -- the data keys are the data key of this write less its user key
  local prefix = string.sub(KEYS[4], 1, #KEYS[4] - #ARGV[2])
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, ${SWEEP_PER_WRITE})
  for _, m in ipairs(due) do
    if redis.call('EXISTS', prefix .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
    redis.call('ZREM', KEYS[3], m)
  end
end
return 1`,
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

export const SCRIPTS = { pyWrite: write, pyHas: has, pyPop: pop, pyRemove: remove, pyScan: scan, pyDrop: drop, pyHistogram: histogram }
export type ScriptName = keyof typeof SCRIPTS
