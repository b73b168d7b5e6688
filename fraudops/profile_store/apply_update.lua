-- Apply one event (a transaction or a label) to one entity profile hash, atomically.
-- Mirror of fraudops.profile_store.state.EntityState.apply: change both together.
-- The client sends HGETALL and this script inside one MULTI, so the state before the event comes
-- back natively (building a Lua table of the hash costs more than the rest of the script).
--
-- KEYS[1]  entity hash                     KEYS[2]  marker: dedup (tx) or label state (label)
-- ARGV[1]  mode: "tx" | "label"
-- ARGV[2]  marker TTL seconds (>0)         ARGV[3]  hash TTL seconds (0: no expiry)
-- ARGV[4..7] prune bounds: min minute bucket, min hour bucket, min day bucket, min pair ts
-- ARGV[8]  event day: stale fields are pruned at most once per entity per event day
-- tx:    ARGV[9] n increments, then n (field, delta); then m, then m (field, value) keep-max
--        returns 1 when applied, 0 when this transaction was counted before (nothing changed)
-- label: ARGV[9] new label (0/1), ARGV[10] known-fraud field of the arrival day
--        returns the delta applied to that field (new - previously counted)

local hash = KEYS[1]
-- granularity letter (byte) -> oldest bucket still needed; "p:" fields compare timestamps
local floors = {[109] = tonumber(ARGV[4]), [104] = tonumber(ARGV[5]), [100] = tonumber(ARGV[6])}
local min_pair_ts = tonumber(ARGV[7])
local day = tonumber(ARGV[8])
local COLON, PAIR = 58, 112

-- Runs on an entity's first event of a day (half of all customer payments): field names only
-- (HKEYS, one Lua string per field instead of two) and byte tests instead of patterns; the
-- pair fields' timestamps come in HMGETs of 500. Bucket numbers are the integers bucket_field
-- writes (tonumber would also read "0x5" or " 5", which no writer produces).
local function prune()
  local pruned = redis.call('HGET', hash, 'z')
  if pruned and tonumber(pruned) >= day then return end
  local names = redis.call('HKEYS', hash)
  local stale, pair_fields = {}, {}
  for i = 1, #names do
    local f = names[i]
    local g, sep = string.byte(f, 1, 2)
    if sep == COLON then
      if g == PAIR then
        pair_fields[#pair_fields + 1] = f
      else
        local floor = floors[g]
        if floor then
          local e = string.find(f, ':', 3, true)
          local b = e and tonumber(string.sub(f, 3, e - 1))
          if b and b < floor then stale[#stale + 1] = f end
        end
      end
    end
  end
  for i = 1, #pair_fields, 500 do  -- chunks: unpack() is limited by the Lua stack
    local last = math.min(i + 499, #pair_fields)
    local ts = redis.call('HMGET', hash, unpack(pair_fields, i, last))
    for j = i, last do
      if tonumber(ts[j - i + 1]) < min_pair_ts then stale[#stale + 1] = pair_fields[j] end
    end
  end
  for i = 1, #stale, 500 do
    redis.call('HDEL', hash, unpack(stale, i, math.min(i + 499, #stale)))
  end
  redis.call('HSET', hash, 'z', day)
end

local function incr(field, delta)
  if redis.call('HINCRBY', hash, field, delta) == 0 then redis.call('HDEL', hash, field) end
end

local function touch()
  local ttl = tonumber(ARGV[3])
  if ttl > 0 then redis.call('EXPIRE', hash, ttl) end
end

if ARGV[1] == 'tx' then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 0 end
  prune()
  local n = tonumber(ARGV[9])
  local i = 10
  for _ = 1, n do
    incr(ARGV[i], tonumber(ARGV[i + 1]))
    i = i + 2
  end
  local m = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, m do
    local value = tonumber(ARGV[i + 1])
    local current = redis.call('HGET', hash, ARGV[i])
    if not current or tonumber(current) < value then redis.call('HSET', hash, ARGV[i], ARGV[i + 1]) end
    i = i + 2
  end
  touch()
  return 1
end

if ARGV[1] == 'label' then
  local new = tonumber(ARGV[9])
  local old = tonumber(redis.call('GET', KEYS[2]) or '0')
  redis.call('SET', KEYS[2], new, 'EX', ARGV[2])
  prune()
  local delta = new - old
  if delta ~= 0 then incr(ARGV[10], delta) end
  touch()
  return delta
end

return redis.error_reply('apply_update.lua: unknown mode ' .. tostring(ARGV[1]))
