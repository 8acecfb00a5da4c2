"""The Lua scripts of the Redis job store: each is one atomic step on one shard's slot.

Keys a script builds itself (a job's record and output) start with the shard's base
(`ARGV[1]`, "<prefix>:{<tag>}:"), so they share the slot of the KEYS it is routed by.
Times: record timestamps and run_at come from the caller (epoch ms, as the worker sets
them); lease deadlines use the Redis server's clock, set and checked by the same server.
"""

from __future__ import annotations

# Shared by the scripts below. A record is {id, HGETALL, LRANGE of its output}, or false.
_HELPERS = """
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function record(base, id)
  local fields = redis.call('HGETALL', base .. 'job:' .. id)
  if #fields == 0 then return false end
  return {id, fields, redis.call('LRANGE', base .. 'out:' .. id, 0, -1)}
end
local function promote(ready, delayed, base, now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 256)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local f = redis.call('HMGET', base .. 'job:' .. id, 'priority', 'qm')
    if f[2] then redis.call('ZADD', ready, 0 - tonumber(f[1]), f[2]) end
  end
end
"""

# KEYS: record, ready, delayed, created[, idempotency key]
# ARGV: base, id, shard limit, created, run_at, now, ready score, ready member, work channel,
#       field, value, ...
# -> {1} created | {0, existing record} | {-1} this shard's queue is full | {-2} id taken
CREATE = (
    _HELPERS
    + """
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then
    local found = record(ARGV[1], existing)
    if found then return {0, found} end
  end
end
if redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then
  return {-1}
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-2} end
redis.call('HSET', KEYS[1], 'qm', ARGV[8], unpack(ARGV, 10))
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
if tonumber(ARGV[5]) > tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[8])
end
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[2]) end
redis.call('PUBLISH', ARGV[9], ARGV[2])
return {1}
"""
)

# KEYS: ready, delayed. ARGV: base, now.
# Due delayed jobs move to ready; -> {ready head [member, score], delayed head [id, run_at]}
HEAD = (
    _HELPERS
    + """
promote(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return {redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES'),
        redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')}
"""
)

# KEYS: ready, delayed, leases. ARGV: base, owner, lease ms, now.
# -> {token, record} of the job now processing under a new lease, or nil if none is due.
CLAIM = (
    _HELPERS
    + """
promote(KEYS[1], KEYS[2], ARGV[1], ARGV[4])
while true do
  local head = redis.call('ZPOPMIN', KEYS[1])
  if #head == 0 then return false end
  local id = string.sub(head[1], string.find(head[1], ':', 1, true) + 1)
  local rec = ARGV[1] .. 'job:' .. id
  if redis.call('HGET', rec, 'status') == 'pending' then
    local token = redis.call('HINCRBY', rec, 'lease', 1)
    redis.call('HINCRBY', rec, 'attempts', 1)
    redis.call('HSET', rec, 'status', 'processing', 'owner', ARGV[2], 'started', ARGV[4],
               'updated', ARGV[4], 'run_at', '0')
    redis.call('HDEL', rec, 'error', 'cancel')
    redis.call('DEL', ARGV[1] .. 'out:' .. id)
    redis.call('ZADD', KEYS[3], server_ms() + tonumber(ARGV[3]), id)
    return {token, record(ARGV[1], id)}
  end
end
"""
)

# KEYS: record, leases. ARGV: token, lease ms, id.
# -> -1 the lease is lost | 0 extended | 1 extended, and a cancel was requested
RENEW = (
    _HELPERS
    + """
local f = redis.call('HMGET', KEYS[1], 'status', 'lease', 'cancel')
if f[1] ~= 'processing' or f[2] ~= ARGV[1] then return -1 end
redis.call('ZADD', KEYS[2], 'XX', server_ms() + tonumber(ARGV[2]), ARGV[3])
if f[3] then return 1 end
return 0
"""
)

# KEYS: record, output, ready, delayed, leases, ended
# ARGV: id, token, status, updated, run_at, now, ready score, ready member, work channel,
#       steps stored, pairs, deletions, then the pairs, the fields to delete, the new steps
# -> 0 the lease is lost | 1 stored | 2 stored as cancelled (a retry whose cancel was asked)
SAVE = """
local f = redis.call('HMGET', KEYS[1], 'status', 'lease', 'cancel')
if f[1] ~= 'processing' or f[2] ~= ARGV[2] then return 0 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[10]) then
  return redis.error_reply('ERR output steps out of step with the lease')
end
local at = 13
local dels = at + 2 * tonumber(ARGV[11])
local steps = dels + tonumber(ARGV[12])
if dels > at then redis.call('HSET', KEYS[1], unpack(ARGV, at, dels - 1)) end
if steps > dels then redis.call('HDEL', KEYS[1], unpack(ARGV, dels, steps - 1)) end
for i = steps, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local status = ARGV[3]
if status == 'processing' then return 1 end
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[1], 'owner')
if status == 'pending' and not f[3] then
  redis.call('HSET', KEYS[1], 'qm', ARGV[8])
  if tonumber(ARGV[5]) > tonumber(ARGV[6]) then
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
  else
    redis.call('ZADD', KEYS[3], ARGV[7], ARGV[8])
  end
  redis.call('PUBLISH', ARGV[9], ARGV[1])
  return 1
end
redis.call('HDEL', KEYS[1], 'cancel')
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
if status == 'pending' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled')
  return 2
end
return 1
"""

# KEYS: record, ready, delayed, ended. ARGV: base, id, now, cancel channel prefix.
# -> {outcome, record}: "missing", "finished", "cancelled" (it was pending), "requested"
CANCEL = (
    _HELPERS
    + """
local f = redis.call('HMGET', KEYS[1], 'status', 'qm', 'owner')
if not f[1] then return {'missing', false} end
local outcome = 'finished'
if f[1] == 'pending' then
  if f[2] then redis.call('ZREM', KEYS[2], f[2]) end
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated', ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
  outcome = 'cancelled'
elseif f[1] == 'processing' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  if f[3] then redis.call('PUBLISH', ARGV[4] .. f[3], ARGV[2]) end
  outcome = 'requested'
end
return {outcome, record(ARGV[1], ARGV[2])}
"""
)

# KEYS: ready, leases, ended. ARGV: base, now, rerun score, work channel.
# Lapsed leases (Redis clock): the job goes back to pending, first in line, or ends
# cancelled if its cancel was requested. -> the records, as they are now.
RECLAIM = (
    _HELPERS
    + """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', server_ms(), 'LIMIT', 0, 100)
local done = {}
for _, id in ipairs(lapsed) do
  redis.call('ZREM', KEYS[2], id)
  local rec = ARGV[1] .. 'job:' .. id
  local f = redis.call('HMGET', rec, 'status', 'cancel')
  if f[1] == 'processing' then
    redis.call('HINCRBY', rec, 'lease', 1)
    redis.call('HDEL', rec, 'owner', 'cancel')
    if f[2] then
      redis.call('HSET', rec, 'status', 'cancelled', 'updated', ARGV[2])
      redis.call('ZADD', KEYS[3], ARGV[2], id)
    else
      local member = ARGV[2] .. ':' .. id
      redis.call('HSET', rec, 'status', 'pending', 'updated', ARGV[2], 'qm', member)
      redis.call('ZADD', KEYS[1], ARGV[3], member)
      redis.call('PUBLISH', ARGV[4], id)
    end
    done[#done + 1] = record(ARGV[1], id)
  end
end
return done
"""
)

# KEYS: any key of the shard (for routing). ARGV: base, id, ... -> records (false: gone)
GET = (
    _HELPERS
    + """
local found = {}
for i = 2, #ARGV do found[i - 1] = record(ARGV[1], ARGV[i]) end
return found
"""
)

# KEYS: created. ARGV: base, highest score ("+inf" or ms), id below which at that score
# ("" for none), status ("" any), type ("" any), matches wanted, entries to examine at most.
# -> {exhausted 0|1, last examined score, last examined id, score, id, ...matches}
LIST = """
local top, below, want, budget = ARGV[2], ARGV[3], tonumber(ARGV[6]), tonumber(ARGV[7])
local filtered = ARGV[4] ~= '' or ARGV[5] ~= ''
local found, examined, offset = {}, 0, 0
local last_score, last_id = false, false
while true do
  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], top, '-inf', 'WITHSCORES',
                           'LIMIT', offset, 100)
  if #batch == 0 then return {1, last_score, last_id, unpack(found)} end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    if below == '' or score ~= top or id < below then
      examined = examined + 1
      last_score, last_id = score, id
      local ok = true
      if filtered then
        local f = redis.call('HMGET', ARGV[1] .. 'job:' .. id, 'status', 'type')
        ok = (ARGV[4] == '' or f[1] == ARGV[4]) and (ARGV[5] == '' or f[2] == ARGV[5])
      end
      if ok then
        found[#found + 1] = score
        found[#found + 1] = id
      end
      if #found >= 2 * want or examined >= budget then
        return {0, last_score, last_id, unpack(found)}
      end
    end
  end
end
"""

# KEYS: created, ended. ARGV: base, id, ... Only ended jobs go. -> the ids that went
DELETE = """
local gone = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local rec = ARGV[1] .. 'job:' .. id
  local f = redis.call('HMGET', rec, 'status', 'idem')
  if f[1] == 'succeeded' or f[1] == 'failed' or f[1] == 'cancelled' then
    if f[2] and redis.call('GET', ARGV[1] .. 'idem:' .. f[2]) == id then
      redis.call('DEL', ARGV[1] .. 'idem:' .. f[2])
    end
    redis.call('DEL', rec, ARGV[1] .. 'out:' .. id)
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    gone[#gone + 1] = id
  end
end
return gone
"""
