/// The Lua scripts of ``RedisMessageQueue``. Each runs atomically on the server, so no two
/// nodes can take, settle or move the same entry twice. Times are the server's clock
/// (`TIME`), so node clocks do not matter.
///
/// Keys, in this order for every script: stream, delayed set, delayed data, leases, dead
/// stream, sequence (see ``RedisQueueKeys``). `ARGV[1]` is always the group name.
///
/// Ownership of a delivery = the entry is in the group's pending list under this consumer
/// with the delivery count recorded in the receipt (a takeover increments the count, so an
/// old delivery of the same consumer is told apart from a new one).
///
/// Entries published without a delay carry no `id`/`publishedAt` fields (a publish is a
/// plain `XADD`): their message ID is the entry ID and their publish time its millisecond
/// part. ``envelope`` adds both fields whenever an entry's fields move elsewhere (retry,
/// dead letter), so the message keeps its ID.
enum RedisQueueScripts {
    static func keys(_ keys: RedisQueueKeys) -> [any RedisArgument] {
        [keys.stream, keys.delayed, keys.delayedData, keys.leases, keys.dead, keys.sequence]
    }

    /// Shared by the scripts that hand out entries again: `deliverable` dead-letters an
    /// entry past maxAttempts; `takeover` claims abandoned entries.
    private static let deliveryHelpers = """
        local function deliverable(eid, fields, count, now)
          local attempt = attempt_of(fields) + count - 1
          local maxAttempts = max_attempts_of(fields)
          if attempt <= maxAttempts then return true end
          local last = with_field(envelope(eid, fields), 'attempt', tostring(attempt - 1))
          last[#last + 1] = 'lastError'
          last[#last + 1] = 'not acknowledged within its visibility timeout (attempt ' .. (attempt - 1) .. ' of ' .. maxAttempts .. ')'
          last[#last + 1] = 'diedAt'
          last[#last + 1] = tostring(now)
          redis.call('XADD', dead, '*', unpack(last))
          settle(eid)
          return false
        end
        -- Claims up to n entries for consumer `me` (each claim adds one to the delivery
        -- count): first entries whose lease (a pull delivery's own visibility timeout)
        -- expired, whatever their idle time; then lease-less entries (consumer deliveries,
        -- whose consumer resets their idle time while it works on them) idle for at least
        -- min_idle, by XAUTOCLAIM from `cursor`. While leases exist, XAUTOCLAIM would also
        -- take leased entries, so the same is done by XPENDING IDLE + XCLAIM, skipping them.
        -- Returns the next XAUTOCLAIM cursor, the deliverable {eid, count, fields} and how
        -- many entries were claimed (dead-lettered ones included).
        local function takeover(me, min_idle, n, cursor, now)
          local claimed = {}
          local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, n)
          if #expired > 0 then
            for _, eid in ipairs(expired) do redis.call('ZREM', leases, eid) end
            for _, e in ipairs(redis.call('XCLAIM', stream, group, me, 0, unpack(expired))) do claimed[#claimed + 1] = e end
          end
          local next_cursor = '0-0'
          local room = n - #expired
          if room > 0 then
            if redis.call('ZCARD', leases) == 0 then
              local r = redis.call('XAUTOCLAIM', stream, group, me, min_idle, cursor, 'COUNT', room)
              next_cursor = r[1]
              for _, e in ipairs(r[2]) do claimed[#claimed + 1] = e end
            else
              local pick = {}
              for _, p in ipairs(redis.call('XPENDING', stream, group, 'IDLE', min_idle, '-', '+', room * 10)) do
                if #pick < room and not redis.call('ZSCORE', leases, p[1]) then pick[#pick + 1] = p[1] end
              end
              if #pick > 0 then
                for _, e in ipairs(redis.call('XCLAIM', stream, group, me, min_idle, unpack(pick))) do claimed[#claimed + 1] = e end
              end
            end
          end
          local out = {}
          for _, e in ipairs(claimed) do
            if e and e[2] then
              local p = redis.call('XPENDING', stream, group, e[1], e[1], 1)
              if #p > 0 and deliverable(e[1], e[2], tonumber(p[1][4]), now) then out[#out + 1] = {e[1], tonumber(p[1][4]), e[2]} end
            end
          end
          return next_cursor, out, #claimed
        end

        """

    private static let prelude = """
        local stream, delayed, data, leases, dead, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
        local group = ARGV[1]
        redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function field(fields, name)
          for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
          return nil
        end
        -- Fields left out of an entry have the values RedisQueueEntry leaves out.
        local function attempt_of(fields) return tonumber(field(fields, 'attempt') or '1') end
        local function max_attempts_of(fields)
          return tonumber(field(fields, 'maxAttempts') or '\(RedisQueueEntry.Omitted.maxAttempts)')
        end
        local function with_field(fields, name, value)
          local out, found = {}, false
          for i = 1, #fields, 2 do
            out[#out + 1] = fields[i]
            if fields[i] == name then out[#out + 1] = value; found = true else out[#out + 1] = fields[i + 1] end
          end
          if not found then out[#out + 1] = name; out[#out + 1] = value end
          return out
        end
        local function without(fields, a, b)
          local out = {}
          for i = 1, #fields, 2 do
            if fields[i] ~= a and fields[i] ~= b then out[#out + 1] = fields[i]; out[#out + 1] = fields[i + 1] end
          end
          return out
        end
        local function promote(now)
          local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)
          for _, id in ipairs(due) do
            local packed = redis.call('HGET', data, id)
            if packed then
              redis.call('XADD', stream, '*', unpack(cmsgpack.unpack(packed)))
              redis.call('HDEL', data, id)
            end
            redis.call('ZREM', delayed, id)
          end
        end
        local function envelope(eid, fields)
          if field(fields, 'id') then return fields end
          local out = {'id', eid, 'publishedAt', string.match(eid, '^(%d+)')}
          for i = 1, #fields do out[#out + 1] = fields[i] end
          return out
        end
        local function last_delivered()
          for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
            if field(g, 'name') == group then return field(g, 'last-delivered-id') end
          end
          return '0-0'
        end
        local function owned(eid, me, count)
          local p = redis.call('XPENDING', stream, group, eid, eid, 1)
          if #p == 0 then
            if #redis.call('XRANGE', stream, eid, eid) == 0 then return 0 end
            return -1
          end
          if p[1][2] ~= me or tonumber(p[1][4]) ~= count then return -1 end
          return 1
        end
        local function settle(eid)
          redis.call('XACK', stream, group, eid)
          redis.call('XDEL', stream, eid)
          redis.call('ZREM', leases, eid)
        end

        """ + deliveryHelpers

    /// ARGV: group, delay ms (> 0), field/value pairs. Parks the message in the delayed
    /// set with `id` (from the sequence counter, prefixed `d` so it never looks like an entry
    /// ID) and `publishedAt`; returns the message ID. Undelayed publishes are a plain `XADD`.
    static let publishDelayed = RedisScript(prelude + """
        local id = 'd' .. tostring(redis.call('INCR', seq))
        local now = now_ms()
        local fields = {'id', id, 'publishedAt', tostring(now)}
        for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
        redis.call('HSET', data, id, cmsgpack.pack(fields))
        redis.call('ZADD', delayed, now + tonumber(ARGV[2]), id)
        return id
        """)

    /// ARGV: group, consumer. Makes this consumer's pending entries (left by an earlier
    /// process with the same node ID) claimable at once; returns how many.
    static let replayOwn = RedisScript(prelude + """
        local mine = redis.call('XPENDING', stream, group, '-', '+', 100000, ARGV[2])
        for _, p in ipairs(mine) do redis.call('ZADD', leases, 0, p[1]) end
        return #mine
        """)

    /// ARGV: group, consumer, visibility ms. Moves due delayed messages into the stream,
    /// then takes over one entry (see `takeover`: an expired lease, or a lease-less entry idle
    /// for the visibility timeout; delivery count + 1, dead-lettered past maxAttempts), else
    /// reads one new entry, and leases it until now + visibility.
    ///
    /// Returns `{'m', entry ID, delivery count, fields}` or, when nothing is visible,
    /// `{'n', group's last-delivered ID, ms until the next lease or delayed message is due (-1: none)}`.
    static let take = RedisScript(prelude + """
        local me, vis = ARGV[2], tonumber(ARGV[3])
        local now = now_ms()
        promote(now)
        for _ = 1, 50 do
          local _, got, tried = takeover(me, vis, 1, '0-0', now)
          if #got > 0 then
            redis.call('ZADD', leases, now + vis, got[1][1])
            return {'m', got[1][1], got[1][2], got[1][3]}
          end
          if tried == 0 then break end
        end
        local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', 1, 'STREAMS', stream, '>')
        if r and r[1] and #r[1][2] > 0 then
          local e = r[1][2][1]
          redis.call('ZADD', leases, now + vis, e[1])
          return {'m', e[1], 1, e[2]}
        end
        local wait = -1
        local nextLease = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
        if #nextLease > 0 then wait = math.max(0, tonumber(nextLease[2]) - now) end
        local nextDue = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
        if #nextDue > 0 then
          local d = math.max(0, tonumber(nextDue[2]) - now)
          if wait < 0 or d < wait then wait = d end
        end
        return {'n', last_delivered(), wait}
        """)

    /// ARGV: group, consumer, min idle ms, count, XAUTOCLAIM cursor. The consumer's
    /// periodic maintenance: moves due delayed messages into the stream, then takes over up
    /// to `count` entries of stopped holders (see `takeover`).
    ///
    /// Returns `{next cursor, ms until the next delayed message is due (-1: none), {entry ID,
    /// delivery count, fields}...}`.
    static let maintain = RedisScript(prelude + """
        local now = now_ms()
        promote(now)
        local out = {'0-0', -1}
        local n = tonumber(ARGV[4])
        if n > 0 then
          local cursor, got = takeover(ARGV[2], tonumber(ARGV[3]), n, ARGV[5], now)
          out[1] = cursor
          for _, e in ipairs(got) do out[#out + 1] = e end
        end
        local nextDue = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
        if #nextDue > 0 then out[2] = math.max(0, tonumber(nextDue[2]) - now) end
        return out
        """)

    /// ARGV: group, consumer, cursor (exclusive), bound ('' = the group's last-delivered ID
    /// now), count. The start-up replay of a consumer: re-reads (`XREADGROUP … STREAMS
    /// <stream> <cursor>`, which adds one to each delivery count) up to `count` of this
    /// consumer's own pending entries after `cursor` and up to `bound`, left by an earlier
    /// process with the same node ID. Entries deleted meanwhile are acknowledged; entries
    /// past maxAttempts are dead-lettered.
    ///
    /// Returns `{bound, last ID read (the next cursor; '' when done), {entry ID, delivery count, fields}...}`.
    static let replayHistory = RedisScript(prelude + """
        local me, cursor, bound, n = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
        if bound == '' then bound = last_delivered() end
        if bound == '0-0' then return {bound, ''} end
        local p = redis.call('XPENDING', stream, group, '(' .. cursor, bound, n, me)
        if #p == 0 then return {bound, ''} end
        local counts = {}
        for _, e in ipairs(p) do counts[e[1]] = tonumber(e[4]) + 1 end
        local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', #p, 'STREAMS', stream, cursor)
        local out = {bound, p[#p][1]}
        local now = now_ms()
        for _, e in ipairs(r[1][2]) do
          local count = counts[e[1]]
          if count then
            if not e[2] then
              redis.call('XACK', stream, group, e[1])
            elseif deliverable(e[1], e[2], count, now) then
              out[#out + 1] = {e[1], count, e[2]}
            end
          end
        end
        return out
        """)

    /// ARGV: group, consumer, entry IDs. Resets the idle time of those entries still pending
    /// under this consumer (`XCLAIM … JUSTID`, which keeps the delivery count), so no
    /// takeover sees them as abandoned; entries now held by another consumer are left alone.
    /// Returns the IDs kept.
    static let renew = RedisScript(prelude + """
        local me, mine = ARGV[2], {}
        for i = 3, #ARGV do
          local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
          if #p > 0 and p[1][2] == me then mine[#mine + 1] = ARGV[i] end
        end
        if #mine == 0 then return {} end
        -- Last in the call: Lua expands `unpack` to all its values only there.
        mine[#mine + 1] = 'JUSTID'
        return redis.call('XCLAIM', stream, group, me, 0, unpack(mine))
        """)

    /// ARGV: group, consumer, idle ms, then pairs of entry ID and delivery count. Gives back
    /// entries a consumer read and never started (its stop): each one still pending under
    /// this consumer gets the idle time `idle ms` (the consumer's visibility timeout: the
    /// next takeover by any consumer with that timeout sees it as abandoned at once; Redis
    /// 7.0 keeps an `IDLE` up to the server's clock) and its delivery count lowered by one
    /// (`XCLAIM … IDLE … RETRYCOUNT … JUSTID`), which the takeover raises again: no attempt
    /// is counted that no handler saw. Entries held by another consumer meanwhile are left
    /// alone. Returns how many were given back.
    static let handBack = RedisScript(prelude + """
        local me, idle, given = ARGV[2], ARGV[3], 0
        for i = 4, #ARGV, 2 do
          local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
          if #p > 0 and p[1][2] == me then
            local count = math.max(0, tonumber(ARGV[i + 1]) - 1)
            redis.call('XCLAIM', stream, group, me, 0, ARGV[i], 'IDLE', idle, 'RETRYCOUNT', count, 'JUSTID')
            given = given + 1
          end
        end
        return given
        """)

    /// ARGV: group, consumer, entry ID, delivery count. 1 = removed, 0 = already gone,
    /// -1 = not owned by this delivery.
    static let acknowledge = RedisScript(prelude + """
        local eid = ARGV[3]
        local state = owned(eid, ARGV[2], tonumber(ARGV[4]))
        if state == 1 then settle(eid) end
        return state
        """)

    /// ARGV: group, consumer, entry ID, delivery count, reason, retry delay ms. Retries the
    /// message through the delayed set (attempt + 1) or dead-letters it when it used
    /// maxAttempts, and removes the entry, in one step. 1 = done, else not owned.
    static let reject = RedisScript(prelude + """
        local eid, count = ARGV[3], tonumber(ARGV[4])
        if owned(eid, ARGV[2], count) ~= 1 then return -1 end
        local fields = envelope(eid, redis.call('XRANGE', stream, eid, eid)[1][2])
        local attempt = attempt_of(fields) + count - 1
        local now = now_ms()
        if attempt >= max_attempts_of(fields) then
          local last = with_field(fields, 'attempt', tostring(attempt))
          last[#last + 1] = 'lastError'
          last[#last + 1] = ARGV[5]
          last[#last + 1] = 'diedAt'
          last[#last + 1] = tostring(now)
          redis.call('XADD', dead, '*', unpack(last))
        else
          local id = field(fields, 'id')
          redis.call('HSET', data, id, cmsgpack.pack(with_field(fields, 'attempt', tostring(attempt + 1))))
          redis.call('ZADD', delayed, now + tonumber(ARGV[6]), id)
        end
        settle(eid)
        return 1
        """)

    /// ARGV: group, consumer, entry ID, delivery count, ms. Moves the lease deadline to now +
    /// ms and resets the entry's idle time (`XCLAIM … JUSTID`, which keeps the delivery count);
    /// ms <= 0 gives the entry up (claimable at once). 1 = extended, 0 = not owned.
    static let extend = RedisScript(prelude + """
        local eid, ms = ARGV[3], tonumber(ARGV[5])
        if owned(eid, ARGV[2], tonumber(ARGV[4])) ~= 1 then return 0 end
        if ms <= 0 then
          redis.call('ZADD', leases, 0, eid)
        else
          redis.call('XCLAIM', stream, group, ARGV[2], 0, eid, 'JUSTID')
          redis.call('ZADD', leases, now_ms() + ms, eid)
        end
        return 1
        """)

    /// ARGV: group. Moves due delayed messages, then returns {waiting, delayed, in flight, dead}.
    static let counts = RedisScript(prelude + """
        promote(now_ms())
        local pending = tonumber(redis.call('XPENDING', stream, group)[1])
        return {redis.call('XLEN', stream) - pending, redis.call('ZCARD', delayed), pending, redis.call('XLEN', dead)}
        """)

    /// ARGV: group, '1' for all or '0', message IDs. Moves dead letters back into the stream
    /// with attempt 1; returns how many moved.
    static let redrive = RedisScript(prelude + """
        local all, wanted, moved = ARGV[2] == '1', {}, 0
        for i = 3, #ARGV do wanted[ARGV[i]] = true end
        for _, e in ipairs(redis.call('XRANGE', dead, '-', '+')) do
          if all or wanted[field(e[2], 'id')] then
            redis.call('XADD', stream, '*', unpack(with_field(without(e[2], 'lastError', 'diedAt'), 'attempt', '1')))
            redis.call('XDEL', dead, e[1])
            moved = moved + 1
          end
        end
        return moved
        """)

    /// ARGV: group. Deletes the entries never delivered (after the group's last-delivered
    /// ID); pending entries are untouched. Returns how many.
    static let purge = RedisScript(prelude + """
        local last = last_delivered()
        local removed = 0
        while true do
          local batch = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 500)
          if #batch == 0 then break end
          for _, e in ipairs(batch) do redis.call('XDEL', stream, e[1]) end
          removed = removed + #batch
          last = batch[#batch][1]
        end
        return removed
        """)
}
