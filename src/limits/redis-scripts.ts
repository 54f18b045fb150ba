/**
 * The Lua scripts of the Redis backend, one per operation, so each runs atomically across all of
 * its rules and across every gateway instance. The clock is Redis `TIME`: instances' clocks
 * differ, the server's is the one they share.
 *
 * Layout in Redis (the caller's prefix first):
 * - `r:<key>`  token bucket, a hash { tokens, at } that expires once it would be full again;
 * - `c:<key>`  concurrency, a sorted set of lease ids scored by expiry;
 * - `bs:<key>` budget spend, an integer seeded from the durable store with SET NX PX;
 * - `br:<key>` budget reservations, a hash lease id → micros plus `#total`;
 * - `be:<key>` the same reservations scored by expiry, so a crashed instance's lapse;
 * - `bl:<key>` while `bs:<key>` is missing and being seeded, a hash loader → micros settled since
 *              that loader began reading the durable store, and `@`loader → when it began (see `MARK`);
 * - `bu:<key>` the spend settled in the last UNWRITTEN_MS, and while `bs:<key>` is missing all that
 *              settled meanwhile, scored by when (see `SETTLE`): spend another instance may not have
 *              written to the durable store when a load reads it;
 * - `epoch`    a random name of the dataset, set by the first instance to find it missing, so a
 *              Redis that restarted empty (or was flushed) has a new one.
 *
 * KEYS come in that order: rate keys, concurrency keys, then three keys per budget (five for
 * SETTLE, with `bl:` and `bu:`), then `epoch` for ACQUIRE and SETTLE.
 */

/**
 * How long before a load began spend settled while its counter was missing may still be missing
 * from the durable store: each instance writes its usage there every second or so.
 */
export const UNWRITTEN_MS = 10_000;
/** How long `bu:` keeps such spend: the load that counts it may seed up to a minute after it began. */
const UNWRITTEN_KEEP_MS = UNWRITTEN_MS + 60_000;

const PRELUDE = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

local function num(x)
  return string.format('%.17g', x)
end

-- Adds spend to the entry of each loader reading a missing counter's figure from the durable store
-- (a bl: hash), but to those whose ids begin with skip (an instance's own, when given).
local function toLoaders(key, micros, skip)
  for _, loader in ipairs(redis.call('HKEYS', key)) do
    if string.sub(loader, 1, 1) ~= '@' and (not skip or string.sub(loader, 1, #skip) ~= skip) then
      redis.call('HINCRBY', key, loader, micros)
    end
  end
end

-- Notes spend in a bu: set as member|micros, kept keep ms, dropping the entries older than that.
local function unwritten(key, member, micros, keep)
  local now = clock()
  redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now - keep))
  redis.call('ZADD', key, num(now), member .. '|' .. micros)
  redis.call('PEXPIRE', key, keep)
end

local function store(key, tokens, limit, window, now)
  if tokens >= limit then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'tokens', num(tokens), 'at', num(now))
  redis.call('PEXPIRE', key, math.ceil((limit - tokens) * window / limit) + 1)
end

-- A bucket stamped after now (Redis's clock stepped back) is stamped now: left as it was, it did not
-- refill, nor expire, until the clock reached its stamp again.
local function level(key, limit, window, now)
  local stored = redis.call('HMGET', key, 'tokens', 'at')
  if not stored[1] then return limit end
  local tokens, at = tonumber(stored[1]), tonumber(stored[2])
  if at > now then
    store(key, tokens, limit, window, now)
    return tokens
  end
  return math.min(limit, tokens + (now - at) * limit / window)
end

local function quota(out, tokens, limit, window)
  out[#out + 1] = math.max(0, math.floor(tokens))
  if tokens >= limit then out[#out + 1] = 0 else out[#out + 1] = math.ceil((limit - tokens) * window / limit) end
end

local function outlive(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

-- Drops reservations past their lease and answers what the live ones hold.
local function reserved(resKey, expKey, now)
  local expired = redis.call('ZRANGEBYSCORE', expKey, '-inf', num(now))
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', resKey, id)
    if amount then
      redis.call('HDEL', resKey, id)
      redis.call('HINCRBY', resKey, '#total', string.format('%d', -tonumber(amount)))
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', expKey, '-inf', num(now)) end
  return tonumber(redis.call('HGET', resKey, '#total') or '0')
end

-- Budget counters that are not seeded yet: the client loads them and asks again.
local function unseeded(first, nb)
  local missing = {}
  for i = 1, nb do
    if redis.call('EXISTS', KEYS[first + 3 * i - 2]) == 0 then missing[#missing + 1] = i end
  end
  return missing
end
`;

/**
 * ARGV: nr, nc, nb, lease id, lease ms, cost estimate, then limit/window/cost per rate rule,
 * limit per concurrency rule, limit per budget.
 * Answers { 'seed', budget indexes... } when counters must be seeded first, else
 * { allowed, denied group ('r'|'c'|'b'|'B'|''), denied index, retry ms, remaining/reset per rate rule },
 * where 'B' is a budget its spend alone fills, 'W' one the request's estimate alone is more than
 * (its spend below its limit) and 'b' one that reservations in flight fill,
 * and when allowed the dataset's epoch last (the lease id becomes it if there was none), which
 * the lease's settle names.
 */
export const ACQUIRE = `${PRELUDE}
local nr, nc, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, leaseMs, estimate = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local missing = unseeded(nr + nc, nb)
if #missing > 0 then return { 'seed', unpack(missing) } end

local now = clock()
local group, index, wait = '', 0, 0
local function deny(g, i, w)
  if w > wait then group, index, wait = g, i, w end
end

local a = 7
local rules, levels = {}, {}
for i = 1, nr do
  local limit, window, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  rules[i] = { limit, window, cost }
  local tokens = level(KEYS[i], limit, window, now)
  levels[i] = tokens
  if limit <= 0 then
    deny('r', i, window)
  else
    local need = math.min(cost, limit)
    if tokens < need then deny('r', i, math.max(1, math.ceil((need - tokens) * window / limit))) end
  end
end

for i = 1, nc do
  local key, limit = KEYS[nr + i], tonumber(ARGV[a])
  a = a + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
  if redis.call('ZCARD', key) >= limit then
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = 1000
    if first[2] then w = math.min(1000, math.max(1, math.ceil(tonumber(first[2]) - now))) end
    deny('c', i, w)
  end
end

for i = 1, nb do
  local base = nr + nc + 3 * i - 3
  local limit = tonumber(ARGV[a])
  a = a + 1
  local spent = tonumber(redis.call('GET', KEYS[base + 1]))
  local used = spent + reserved(KEYS[base + 2], KEYS[base + 3], now)
  if used + estimate > limit or used >= limit then
    local g, w = 'b', 1000
    if spent + estimate > limit or spent >= limit then
      g, w = (spent < limit and estimate > limit) and 'W' or 'B', math.max(1, redis.call('PTTL', KEYS[base + 1]))
    end
    deny(g, i, w)
  end
end

local out
if wait > 0 then
  out = { 0, group, index, wait }
  for i = 1, nr do quota(out, levels[i], rules[i][1], rules[i][2]) end
  return out
end

out = { 1, '', 0, 0 }
local epoch = redis.call('GET', KEYS[#KEYS])
if not epoch then
  epoch = lease
  redis.call('SET', KEYS[#KEYS], epoch)
end
for i = 1, nr do
  local limit, window = rules[i][1], rules[i][2]
  local left = levels[i] - rules[i][3]
  store(KEYS[i], left, limit, window, now)
  quota(out, left, limit, window)
end
local expiresAt = num(now + leaseMs)
local keep = math.ceil(leaseMs) + 1
for i = 1, nc do
  redis.call('ZADD', KEYS[nr + i], expiresAt, lease)
  outlive(KEYS[nr + i], keep)
end
if estimate > 0 then
  for i = 1, nb do
    local base = nr + nc + 3 * i - 3
    redis.call('HSET', KEYS[base + 2], lease, ARGV[6])
    redis.call('HINCRBY', KEYS[base + 2], '#total', ARGV[6])
    redis.call('ZADD', KEYS[base + 3], expiresAt, lease)
    outlive(KEYS[base + 2], keep)
    outlive(KEYS[base + 3], keep)
  end
end
out[#out + 1] = epoch
return out
`;

/**
 * KEYS: token-rule buckets, concurrency sets, four keys per budget, `epoch`.
 * ARGV: nt, nc, nb, lease id, actual - estimated tokens, actual cost, the epoch the lease was
 * taken in ('' when its ACQUIRE's answer was lost), then limit/window per token rule.
 * Answers the epoch of the dataset it ran in (false when it has none).
 *
 * Unused tokens go back only to buckets of the dataset they were taken from: one that restarted
 * empty since never had them taken, and refunded, a client would gain them. An overrun is debited
 * in any dataset. A lease whose ACQUIRE's answer was lost may never have been made (that ACQUIRE
 * refused it, or never ran): its tokens go back only when Redis shows it held, by a slot or a
 * reservation, so releasing it is a no-op when it was not, and when it is run a second time.
 */
export const SETTLE = `${PRELUDE}
local nt, nc, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, extra = ARGV[4], tonumber(ARGV[5])
local spent = tonumber(ARGV[6]) ~= 0
local held = false
for i = 1, nc do
  if redis.call('ZREM', KEYS[nt + i], lease) == 1 then held = true end
end
for i = 1, nb do
  local base = nt + nc + 5 * i - 5
  local amount = redis.call('HGET', KEYS[base + 2], lease)
  if amount then
    held = true
    redis.call('HDEL', KEYS[base + 2], lease)
    redis.call('HINCRBY', KEYS[base + 2], '#total', string.format('%d', -tonumber(amount)))
    redis.call('ZREM', KEYS[base + 3], lease)
  end
  if redis.call('EXISTS', KEYS[base + 1]) == 1 then
    redis.call('INCRBY', KEYS[base + 1], ARGV[6])
    -- Remembered as long as it may be unwritten: should the counter lapse (its ttl, daily) before
    -- this instance writes its usage, a load reads a store without it (see SEED). No load is
    -- pending while the counter exists, so only the last UNWRITTEN_MS are kept.
    if spent then unwritten(KEYS[base + 5], lease, ARGV[6], ${UNWRITTEN_MS}) end
  else
    -- Being seeded: what the loaders' reads began too late to hold.
    toLoaders(KEYS[base + 4], ARGV[6])
    -- And for a load that begins later: this spend reaches the durable store only when its
    -- instance next writes its usage, and a read before that would lose it until the next reload.
    if spent then unwritten(KEYS[base + 5], lease, ARGV[6], ${UNWRITTEN_KEEP_MS}) end
  end
end
local refund
if ARGV[7] == '' then refund = held else refund = redis.call('GET', KEYS[#KEYS]) == ARGV[7] end
if extra > 0 or (extra < 0 and refund) then
  local now = clock()
  local a = 8
  for i = 1, nt do
    local limit, window = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    a = a + 2
    store(KEYS[i], level(KEYS[i], limit, window, now) - extra, limit, window, now)
  end
end
return redis.call('GET', KEYS[#KEYS])
`;

/**
 * ARGV: nr, nc, nb, then limit/window per rate rule.
 * Answers { 'seed', ... } like ACQUIRE, else remaining/reset per rate rule, in use per
 * concurrency rule, spent/reserved per budget.
 */
export const STATUS = `${PRELUDE}
local nr, nc, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local missing = unseeded(nr + nc, nb)
if #missing > 0 then return { 'seed', unpack(missing) } end
local now = clock()
local out = {}
local a = 4
for i = 1, nr do
  local limit, window = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  quota(out, level(KEYS[i], limit, window, now), limit, window)
end
for i = 1, nc do
  redis.call('ZREMRANGEBYSCORE', KEYS[nr + i], '-inf', num(now))
  out[#out + 1] = redis.call('ZCARD', KEYS[nr + i])
end
for i = 1, nb do
  local base = nr + nc + 3 * i - 3
  out[#out + 1] = tonumber(redis.call('GET', KEYS[base + 1]))
  out[#out + 1] = reserved(KEYS[base + 2], KEYS[base + 3], now)
end
return out
`;

/**
 * Says a loader is about to read a missing counter's spend from the durable store: KEYS `bs:` and
 * `bl:` of the budget; ARGV the loader's id and how long its load may take (ms). From here on,
 * SETTLE adds the spend it cannot add to the missing counter to the loader's entry, which `SEED`
 * adds to what the loader read. Sent in the same synchronous run as the read begins, so that of
 * the loader's own settles, those sent before it are in what it reads and those after are added.
 */
export const MARK = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 0, '@' .. ARGV[1], num(clock()))
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

/**
 * Seeds a missing counter: KEYS `bs:`, `bl:` and `bu:`; ARGV the loader, the spend it read, the
 * counter's ttl (ms). The counter becomes what was read, plus what was settled since the loader's
 * MARK, plus what other instances settled in the UNWRITTEN_MS before it, into the counter before
 * it lapsed or while it was missing (they may not have written it to the store yet: counted twice
 * when they had, over, not under; the loader's own instance wrote its usage before reading). Lease and loader ids both begin
 * with their instance's id and a dot.
 * The other loaders' entries go with it (their SEED finds the counter there). Answers 1 when the
 * counter exists afterwards, 0 when the loader's mark was lost (it lapsed, or MARK never ran):
 * spend settled meanwhile may be in neither, so the loader must read again.
 */
export const SEED = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
local since = redis.call('HGET', KEYS[2], ARGV[1])
if not since then return 0 end
local total = tonumber(ARGV[2]) + tonumber(since)
local marked = tonumber(redis.call('HGET', KEYS[2], '@' .. ARGV[1]))
local own = string.match(ARGV[1], '^(.*%.)')
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], num(marked - ${UNWRITTEN_MS}), num(marked))) do
  if string.sub(entry, 1, #own) ~= own then total = total + tonumber(string.match(entry, '|(-?%d+)$')) end
end
redis.call('SET', KEYS[1], string.format('%d', total), 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`;

/**
 * Puts a lease's budget reservations back after Redis lost them (a restart, a failover): KEYS are
 * the (reserved, expiries) pairs of its budgets; ARGV the lease id, its estimate and the ms its
 * lease has left. A reservation Redis still holds is left as it is.
 */
export const REREGISTER = `${PRELUDE}
local lease, estimate, left = ARGV[1], ARGV[2], tonumber(ARGV[3])
local expiresAt = num(clock() + left)
local keep = math.ceil(left) + 1
for i = 1, #KEYS, 2 do
  if redis.call('HSETNX', KEYS[i], lease, estimate) == 1 then
    redis.call('HINCRBY', KEYS[i], '#total', estimate)
    redis.call('ZADD', KEYS[i + 1], expiresAt, lease)
  end
  outlive(KEYS[i], keep)
  outlive(KEYS[i + 1], keep)
end
return 1
`;

/**
 * Adds budget spend that never reached Redis (see `RedisLimiter.keepUnsent`). KEYS: `epoch`, then
 * one spend counter per budget; ARGV: an epoch to set if the dataset has none, then per counter the
 * epoch its spend was lost against and the micros. Added only where the dataset is still that one
 * and the counter still exists: a counter seeded again from the durable store already holds the
 * spend. Answers the dataset's epoch.
 */
export const ADD_SPEND = `
local current = redis.call('GET', KEYS[1])
if not current then
  current = ARGV[1]
  redis.call('SET', KEYS[1], current)
end
for i = 2, #KEYS do
  if ARGV[2 * i - 2] == current and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  end
end
return current
`;

/**
 * Puts back an instance's spend of its last UNWRITTEN_MS, settled in a dataset Redis has since
 * lost (a restart empty, a failover), which the instance may not have written to the durable store
 * when a counter was seeded again from it. KEYS: `epoch`, then per budget `bs:`, `bl:`, `bu:`; ARGV:
 * the dataset's epoch the instance found, the instance's id with its dot, then the micros per
 * budget. A counter seeded already gets it added; a missing one as SETTLE adds to it (the other
 * instances' loads that began, and `bu:` for those to come). The instance's own loads are left out:
 * it writes its usage before reading. Answers 0 when the dataset is not that one any more.
 */
export const RESTORE_SPEND = `${PRELUDE}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local own = ARGV[2]
for i = 1, (#KEYS - 1) / 3 do
  local base = 3 * i - 1
  local micros = ARGV[i + 2]
  if redis.call('EXISTS', KEYS[base]) == 1 then
    redis.call('INCRBY', KEYS[base], micros)
  else
    toLoaders(KEYS[base + 1], micros, own)
    unwritten(KEYS[base + 2], own .. 'restored.' .. i, micros, ${UNWRITTEN_KEEP_MS})
  end
end
return 1
`;
