import { OUTSIDE_STEP_OPENING, STEP_KEY } from "@durastream/protocol/internal";
import type { Redis } from "ioredis";

// One Lua script per write, run with EVALSHA (ioredis `defineCommand` loads it with EVAL on first
// use on a connection, and again after NOSCRIPT). A script runs atomically: no other command sees
// a half-done write. Redis does not roll a script back when it fails halfway, so every script
// checks everything first and writes only once it knows it will succeed.
//
// Idempotence: each write carries a token (unique per call). A script that applies a write
// records its token and result in the run's `applied` hashes (the latest APPLIED_KEPT or more),
// and a script that finds its token there returns the recorded result without writing again. ioredis resends the
// commands that were in flight when a connection dropped; a resent write whose first execution
// went through (only the reply was lost) thus resolves with its first result instead of being
// applied twice. (The stream ids are computed here from the run's frame count, so a resent append
// would get fresh ids: the token is what recognizes it. XADD's refusal of an id that is not above
// the log's last one guards the log's order, and a fenced writer never gets that far.)
//
// Per-event keys (`event-waits:<name>`) and per-run keys of other runs are built inside the scripts
// from the prefix, so the store needs a standalone Redis (or one shard), not Redis Cluster.

/** How many applied-write tokens a run keeps: more than the writes one run has in flight at once. */
const APPLIED_KEPT = 64;

const COMMON = `
-- The tokens of applied writes live in two hashes (token -> result): the current one and the one
-- before it. When the current one holds APPLIED_KEPT tokens it replaces the previous one, so the
-- latest APPLIED_KEPT to 2 * APPLIED_KEPT tokens are kept, each found in O(1).
local function applied_result(applied, applied_before, token)
  local result = redis.call('HGET', applied, token)
  if result then return result end
  result = redis.call('HGET', applied_before, token)
  if result then return result end
  return nil
end

local function remember(applied, applied_before, token, result)
  redis.call('HSET', applied, token, result)
  if redis.call('HLEN', applied) >= ${APPLIED_KEPT} then redis.call('RENAME', applied, applied_before) end
end

-- Why a write to a run in this state is refused, or nil.
local function refusal(status, finished_at, now, retention)
  if not status then return 'unknown-run' end
  if status == 'succeeded' or status == 'failed' then
    if finished_at and tonumber(finished_at) + retention <= now then return 'unknown-run' end
    return 'over'
  end
  return nil
end

-- Removes the run from the event's set unless another of its steps still waits for that event.
local function unindex_wait(waits, prefix, run_id, event)
  for _, other in ipairs(redis.call('HVALS', waits)) do
    if other == event then return end
  end
  redis.call('SREM', prefix .. 'event-waits:' .. event, run_id)
end

local function drop_waits(waits, prefix, run_id)
  for _, event in ipairs(redis.call('HVALS', waits)) do
    redis.call('SREM', prefix .. 'event-waits:' .. event, run_id)
  end
  redis.call('DEL', waits)
end
`;

/**
 * appendFrames.
 * KEYS: run, log, steps, waits, applied, appliedBefore, due, leases.
 * ARGV: 1 prefix, 2 runId, 3 token, 4 now, 5 retention, 6 epoch, 7 outsideCommitted or "",
 * 8 hashedStepId or "", 9 step JSON, 10 "1" when the step registers a wait, 11 its event,
 * 12 suspend wakeAt or "", 13 finish status or "", 14 result JSON, 15 added payload length,
 * 16 frame count, then type and payload of each frame, then the rollback marks (JSON) of a quiet
 * point to record, or "" (RunRecord.quiet: recorded with those marks; or moved by a suspension,
 * marks kept, unless outside-step chunks are pending: the `outsidePending` field, kept here).
 * Returns {"ok", lastOffset} or {"refused", reason}.
 */
const APPEND = `${COMMON}
local run, log, steps, waits, applied, applied_before, due, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local prefix, run_id, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local prior = applied_result(applied, applied_before, token)
if prior then return {'ok', prior} end

local state = redis.call('HMGET', run, 'status', 'epoch', 'frameCount', 'finishedAt', 'wakeAt', 'outsidePending')
local refused = refusal(state[1], state[4], tonumber(now), tonumber(ARGV[5]))
if refused then return {'refused', refused} end
if state[2] ~= ARGV[6] then return {'refused', 'fenced'} end

-- Whether a payload is of outside-step chunks: byte ${STEP_KEY.length + 1} is 'n' of ${OUTSIDE_STEP_OPENING} (one byte test for most).
local function outside(payload)
  return string.byte(payload, ${STEP_KEY.length + 1}) == 110 and string.sub(payload, 1, ${OUTSIDE_STEP_OPENING.length}) == '${OUTSIDE_STEP_OPENING}'
end

local count = tonumber(ARGV[16])
local sequence = tonumber(state[3])
local offset = ''
local pending = state[6] == '1'
for i = 1, count do
  sequence = sequence + 1
  offset = ARGV[6] .. '-' .. string.format('%d', sequence)
  local frame_type, payload = ARGV[15 + 2 * i], ARGV[16 + 2 * i]
  redis.call('XADD', log, offset, 'type', frame_type, 'payload', payload)
  if frame_type == 'data' then
    if not pending and outside(payload) then pending = true end
  elseif pending and (frame_type == 'commit' or frame_type == 'rollback') and outside(payload) then
    pending = false
  end
end
if count > 0 then
  redis.call('HSET', run, 'frameCount', string.format('%d', sequence))
  redis.call('HINCRBY', run, 'logBytes', ARGV[15])
end
redis.call('HSET', run, 'updatedAt', now)

local quiet = ARGV[17 + 2 * count] or ''
if quiet ~= '' then
  pending = false
  redis.call('HSET', run, 'quietRollbacks', quiet)
end
if quiet ~= '' or (ARGV[12] ~= '' and not pending) then
  redis.call('HSET', run, 'quietOffset', ARGV[6] .. '-' .. string.format('%d', sequence))
end
if pending ~= (state[6] == '1') then
  if pending then redis.call('HSET', run, 'outsidePending', '1') else redis.call('HDEL', run, 'outsidePending') end
end

if ARGV[8] ~= '' then
  local previous = redis.call('HGET', waits, ARGV[8])
  redis.call('HSET', steps, ARGV[8], ARGV[9])
  if previous then
    redis.call('HDEL', waits, ARGV[8])
    unindex_wait(waits, prefix, run_id, previous)
  end
  if ARGV[10] == '1' then
    redis.call('HSET', waits, ARGV[8], ARGV[11])
    redis.call('SADD', prefix .. 'event-waits:' .. ARGV[11], run_id)
  end
end

if ARGV[7] ~= '' then redis.call('HSET', run, 'outsideCommitted', ARGV[7]) end

if ARGV[12] ~= '' then
  -- The min rule: an event delivered while the run was running set wakeAt; it must wake at once.
  local wake_at = ARGV[12]
  if state[5] and tonumber(state[5]) < tonumber(wake_at) then wake_at = state[5] end
  redis.call('HSET', run, 'status', 'suspended', 'wakeAt', wake_at)
  redis.call('HDEL', run, 'owner')
  redis.call('ZADD', due, wake_at, run_id)
  redis.call('ZREM', leases, run_id)
end

remember(applied, applied_before, token, offset)

if ARGV[13] ~= '' then
  redis.call('HSET', run, 'status', ARGV[13], 'result', ARGV[14], 'finishedAt', now)
  redis.call('HDEL', run, 'owner', 'wakeAt')
  redis.call('ZREM', due, run_id)
  redis.call('ZREM', leases, run_id)
  drop_waits(waits, prefix, run_id)
  -- The run's key (NewRun.key) is free once it is over.
  local key_ref = redis.call('HGET', run, 'keyRef')
  if key_ref and redis.call('GET', key_ref) == run_id then redis.call('DEL', key_ref) end
  local retention = math.ceil(tonumber(ARGV[5]))
  for _, key in ipairs({run, log, steps, applied, applied_before}) do redis.call('PEXPIRE', key, retention) end
end

redis.call('PUBLISH', prefix .. 'notify:' .. run_id, offset)
return {'ok', offset}
`;

/**
 * createRun.
 * KEYS: run, log, steps, waits, applied, appliedBefore, due, leases, key holder (the string key
 * naming the run that holds the run's key; any key name when the run has none).
 * ARGV: 1 prefix, 2 runId, 3 token, 4 now, 5 retention, 6 endpointId, 7 owner, 8 leaseExpiresAt,
 * 9 request JSON, 10 createdAt, 11 the run's key or "".
 * Returns "created", "exists", or "key:<id of the active run holding the key>". The key holder is
 * set here and deleted by the append that finishes the run (the run hash keeps its name as
 * `keyRef`); a holder whose run is over or gone (keys deleted behind the store's back) is stale
 * and taken over.
 */
const CREATE = `${COMMON}
local run, log, steps, waits, applied, applied_before, due, leases, key_holder = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local prefix, run_id, token, key = ARGV[1], ARGV[2], ARGV[3], ARGV[11]
if applied_result(applied, applied_before, token) then return 'created' end

local state = redis.call('HMGET', run, 'status', 'finishedAt')
if state[1] and refusal(state[1], state[2], tonumber(ARGV[4]), tonumber(ARGV[5])) ~= 'unknown-run' then return 'exists' end

if key ~= '' then
  local holder = redis.call('GET', key_holder)
  if holder and holder ~= run_id then
    local held = redis.call('HGET', prefix .. 'run:' .. holder, 'status')
    if held == 'running' or held == 'suspended' then return 'key:' .. holder end
  end
end

-- Clear what an expired run (or keys that outlived their run hash) left under this id.
drop_waits(waits, prefix, run_id)
redis.call('DEL', run, log, steps, applied, applied_before)
redis.call('ZREM', due, run_id)

redis.call('HSET', run,
  'runId', run_id, 'endpointId', ARGV[6], 'status', 'running', 'epoch', '1', 'owner', ARGV[7],
  'leaseExpiresAt', ARGV[8], 'outsideCommitted', '0', 'frameCount', '0', 'logBytes', '0',
  'request', ARGV[9], 'createdAt', ARGV[10], 'updatedAt', ARGV[10])
if key ~= '' then
  redis.call('SET', key_holder, run_id)
  redis.call('HSET', run, 'key', key, 'keyRef', key_holder)
end
redis.call('ZADD', leases, ARGV[8], run_id)
remember(applied, applied_before, token, '')
return 'created'
`;

/**
 * claimRun.
 * KEYS: run, applied, appliedBefore, due, leases.
 * ARGV: 1 runId, 2 token, 3 now (of the claim), 4 owner, 5 leaseExpiresAt, 6 updatedAt.
 * Returns the run hash as a flat array, or an empty array when the run is not claimable.
 */
const CLAIM = `${COMMON}
local run, applied, applied_before, due, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local run_id, token, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if applied_result(applied, applied_before, token) then return redis.call('HGETALL', run) end

local state = redis.call('HMGET', run, 'status', 'wakeAt', 'leaseExpiresAt')
local claimable = (state[1] == 'suspended' and state[2] and tonumber(state[2]) <= now)
  or (state[1] == 'running' and tonumber(state[3]) < now)
if not claimable then return {} end

redis.call('HINCRBY', run, 'epoch', 1)
redis.call('HSET', run, 'status', 'running', 'owner', ARGV[4], 'leaseExpiresAt', ARGV[5], 'updatedAt', ARGV[6])
redis.call('HDEL', run, 'wakeAt')
redis.call('ZREM', due, run_id)
redis.call('ZADD', leases, ARGV[5], run_id)
remember(applied, applied_before, token, '')
return redis.call('HGETALL', run)
`;

/**
 * renewLease (idempotent as it is: no token).
 * KEYS: run, leases. ARGV: 1 runId, 2 owner, 3 epoch, 4 leaseExpiresAt.
 * Returns 1 when renewed, else 0.
 */
const RENEW = `
local state = redis.call('HMGET', KEYS[1], 'status', 'owner', 'epoch')
if state[1] ~= 'running' or state[2] ~= ARGV[2] or state[3] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'leaseExpiresAt', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
`;

/**
 * The waits deliverEvent considers (read only).
 * KEYS: the event's set of waiting runs. ARGV: 1 prefix, 2 event name.
 * Returns runId, hashedStepId, step JSON, … for every step of those runs that waits for the event.
 */
const WAITS = `
local prefix, name = ARGV[1], ARGV[2]
local found = {}
for _, run_id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local waits = redis.call('HGETALL', prefix .. 'run-waits:' .. run_id)
  for i = 1, #waits, 2 do
    if waits[i + 1] == name then
      local step = redis.call('HGET', prefix .. 'steps:' .. run_id, waits[i])
      if step then
        found[#found + 1] = run_id
        found[#found + 1] = waits[i]
        found[#found + 1] = step
      end
    end
  end
end
return found
`;

/**
 * deliverEvent, for one (run, step): compare-and-set of the journal entry.
 * KEYS: run, steps, waits, applied, appliedBefore, due.
 * ARGV: 1 prefix, 2 runId, 3 token, 4 now (of the delivery), 5 hashedStepId, 6 the entry as read,
 * 7 the entry to write, 8 event name, 9 the wait's deadline or "", 10 updatedAt.
 * Returns 1 when delivered, 0 when the entry changed (or the run is over, or the deadline passed).
 */
const DELIVER = `${COMMON}
local run, steps, waits, applied, applied_before, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local prefix, run_id, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if applied_result(applied, applied_before, token) then return 1 end

local status = redis.call('HGET', run, 'status')
if status ~= 'running' and status ~= 'suspended' then return 0 end
if redis.call('HGET', steps, ARGV[5]) ~= ARGV[6] then return 0 end
if redis.call('HGET', waits, ARGV[5]) ~= ARGV[8] then return 0 end
if ARGV[9] ~= '' and tonumber(ARGV[9]) <= tonumber(now) then return 0 end

redis.call('HSET', steps, ARGV[5], ARGV[7])
redis.call('HDEL', waits, ARGV[5])
unindex_wait(waits, prefix, run_id, ARGV[8])
redis.call('HSET', run, 'wakeAt', now, 'updatedAt', ARGV[10])
if status == 'suspended' then redis.call('ZADD', due, now, run_id) end
remember(applied, applied_before, token, '')
redis.call('PUBLISH', prefix .. 'notify:' .. run_id, '')
return 1
`;

/** Entries listResumableRuns examines per set and call, at most, per run of the page it was asked for. */
const STALE_BUDGET = 10;

/**
 * listResumableRuns: one page of due suspended runs (the due set, `wakeAt <= now`) and running
 * runs whose lease expired (the lease set, `leaseExpiresAt < now`), ordered by score (the due
 * time), then run id (bytes, as Redis orders the members of equal score), strictly after the cursor
 * (ARGV 4, 5) when given. Each set is read by rank from the cursor's position (found in
 * O(log N)): at most `limit` runs per set, whatever the sets hold. An entry whose run hash is gone
 * or in another status (only possible if keys were deleted or evicted behind the store's back) is
 * removed from its set, so it costs once, not on every poll; a call examines at most
 * STALE_BUDGET · limit entries per set, so a page may come back short while such entries are
 * being removed (the next call goes on).
 * KEYS: due, leases. ARGV: 1 prefix, 2 now, 3 limit, 4 cursor dueAt or "", 5 cursor runId.
 * Returns runId, dueAt, endpointId, … in order, at most `limit` runs.
 */
const RESUMABLE = `
local prefix, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local after_due, after_id = ARGV[4], ARGV[5]

-- a < b comparing bytes (Lua's own < follows the server's locale).
local function before(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The rank of the first member strictly after (score, member) in the set's order: members of
-- lower score, then a binary search among those of equal score. O(log N) per probe.
local function rank_after(key, score, member)
  local low = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local high = redis.call('ZCOUNT', key, '-inf', score)
  while low < high do
    local middle = math.floor((low + high) / 2)
    if before(member, redis.call('ZRANGE', key, middle, middle)[1]) then high = middle else low = middle + 1 end
  end
  return low
end

-- Up to limit runs of the set that are due (score <= now, or < now when strict) after the
-- cursor and in status, as {run_id, score, endpoint_id}; and, when the budget ran out first, the
-- last entry examined (the page must not go past it: what follows it was not looked at).
local function page(key, status, strict)
  local found = {}
  local start = 0
  local examined = 0
  local last
  if after_due ~= '' then start = rank_after(key, after_due, after_id) end
  while #found < limit do
    if examined >= ${STALE_BUDGET} * limit then return found, last end
    local chunk = redis.call('ZRANGE', key, start, start + limit - #found - 1, 'WITHSCORES')
    if #chunk == 0 then return found end
    local removed = 0
    for i = 1, #chunk, 2 do
      local run_id, score = chunk[i], tonumber(chunk[i + 1])
      if score > now or (strict and score == now) then return found end
      examined = examined + 1
      last = {run_id, chunk[i + 1]}
      local state = redis.call('HMGET', prefix .. 'run:' .. run_id, 'status', 'endpointId')
      if state[1] == status then
        found[#found + 1] = {run_id, chunk[i + 1], state[2]}
      else
        redis.call('ZREM', key, run_id)
        removed = removed + 1
      end
    end
    start = start + #chunk / 2 - removed
  end
  return found
end

-- Whether entry a ({run_id, score, …}) comes after entry b in the order of the page.
local function after(a, b)
  local sa, sb = tonumber(a[2]), tonumber(b[2])
  return sa > sb or (sa == sb and before(b[1], a[1]))
end

local suspended, suspended_cut = page(KEYS[1], 'suspended', false)
local running, running_cut = page(KEYS[2], 'running', true)
local result = {}
local i, j = 1, 1
while #result < 3 * limit and (i <= #suspended or j <= #running) do
  local take
  if i > #suspended then take = running[j]; j = j + 1
  elseif j > #running then take = suspended[i]; i = i + 1
  elseif after(suspended[i], running[j]) then take = running[j]; j = j + 1
  else take = suspended[i]; i = i + 1 end
  if (suspended_cut and after(take, suspended_cut)) or (running_cut and after(take, running_cut)) then break end
  result[#result + 1] = take[1]
  result[#result + 1] = take[2]
  result[#result + 1] = take[3]
end
return result
`;

/**
 * findActiveRunByKey (read only). KEYS: the key holder. ARGV: 1 prefix.
 * Returns the id of the run holding the key while it is active, else nil.
 */
const FIND_KEY = `
local holder = redis.call('GET', KEYS[1])
if not holder then return false end
local status = redis.call('HGET', ARGV[1] .. 'run:' .. holder, 'status')
if status == 'running' or status == 'suspended' then return holder end
return false
`;

type Argument = string | number;

/**
 * readFrames with a byte bound (read only). KEYS: run, log. ARGV: 1 XRANGE start (`-` or
 * `(<offset>`), 2 limit (>= 1), 3 maxBytes.
 * Returns { status or nil, finishedAt or nil, entries as XRANGE gives them }: entries up to `limit`,
 * stopping after the one with which the payloads reach maxBytes UTF-16 code units (always at least
 * one entry when one follows the start). The log is walked in pages sized from the payloads seen so
 * far, so a read of large frames does not load many more of them than it returns.
 */
const READ_FRAMES = `
-- UTF-16 code units of a UTF-8 string (as JavaScript's length counts): one per code point, two for
-- the four-byte ones. ASCII, the common case, is found by one scan without a copy.
local function utf16_length(text)
  if not string.find(text, '[\\128-\\255]') then return #text end
  local _, continuation = string.gsub(text, '[\\128-\\191]', '')
  local _, astral = string.gsub(text, '[\\240-\\247]', '')
  return #text - continuation + astral
end

local state = redis.call('HMGET', KEYS[1], 'status', 'finishedAt')
local start, limit, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local found, count, bytes, page = {}, 0, 0, 16
while count < limit and (count == 0 or bytes < max_bytes) do
  local entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', math.min(page, limit - count))
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    count = count + 1
    found[count] = entry
    local fields = entry[2]
    for index = 1, #fields, 2 do
      if fields[index] == 'payload' then bytes = bytes + utf16_length(fields[index + 1]) end
    end
    if bytes >= max_bytes then break end
  end
  start = '(' .. found[count][1]
  -- As many frames of the size seen so far as fit in what is left of maxBytes, and one more.
  if bytes > 0 then page = math.max(1, math.min(512, math.ceil((max_bytes - bytes) * count / bytes) + 1)) end
end
return { state[1], state[2], found }
`;

/** The scripts, as methods `defineScripts` adds to a client. */
interface ScriptCommands {
  /** Takes its keys and arguments as one array (ioredis flattens it), so a large batch is not spread into a call. */
  durastreamAppend(keysAndArguments: Argument[]): Promise<[status: "ok" | "refused", value: string]>;
  durastreamCreate(...keysAndArguments: Argument[]): Promise<string>;
  durastreamFindKey(...keysAndArguments: Argument[]): Promise<string | null>;
  durastreamClaim(...keysAndArguments: Argument[]): Promise<string[]>;
  durastreamRenew(...keysAndArguments: Argument[]): Promise<number>;
  durastreamWaits(...keysAndArguments: Argument[]): Promise<string[]>;
  durastreamDeliver(...keysAndArguments: Argument[]): Promise<number>;
  durastreamResumable(...keysAndArguments: Argument[]): Promise<string[]>;
  durastreamReadFrames(...keysAndArguments: Argument[]): Promise<[status: string | null, finishedAt: string | null, entries: [id: string, fields: string[]][]]>;
}

/** A client with the store's scripts defined. */
export type ScriptedRedis = Redis & ScriptCommands;

/**
 * Defines the store's scripts on `client` (as `durastream*` methods; defining them again, e.g. for
 * a second store on the same client, is harmless).
 */
export function defineScripts(client: Redis): ScriptedRedis {
  client.defineCommand("durastreamAppend", { numberOfKeys: 8, lua: APPEND });
  client.defineCommand("durastreamCreate", { numberOfKeys: 9, lua: CREATE });
  client.defineCommand("durastreamFindKey", { numberOfKeys: 1, lua: FIND_KEY, readOnly: true });
  client.defineCommand("durastreamClaim", { numberOfKeys: 5, lua: CLAIM });
  client.defineCommand("durastreamRenew", { numberOfKeys: 2, lua: RENEW });
  client.defineCommand("durastreamWaits", { numberOfKeys: 1, lua: WAITS, readOnly: true });
  client.defineCommand("durastreamDeliver", { numberOfKeys: 6, lua: DELIVER });
  client.defineCommand("durastreamResumable", { numberOfKeys: 2, lua: RESUMABLE });
  client.defineCommand("durastreamReadFrames", { numberOfKeys: 2, lua: READ_FRAMES, readOnly: true });
  return client as ScriptedRedis;
}
