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
enum RedisQueueScripts {
    static func keys(_ keys: RedisQueueKeys) -> [any RedisArgument] {
        [keys.stream, keys.delayed, keys.delayedData, keys.leases, keys.dead, keys.sequence]
    }

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

        """

    /// ARGV: group, delay ms, field/value pairs. Adds `id` and `publishedAt`; a positive
    /// delay parks the message in the delayed set. Returns the message ID.
    static let publish = RedisScript(prelude + """
        local id = tostring(redis.call('INCR', seq))
        local now = now_ms()
        local fields = {'id', id, 'publishedAt', tostring(now)}
        for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
        local delay = tonumber(ARGV[2])
        if delay > 0 then
          redis.call('HSET', data, id, cmsgpack.pack(fields))
          redis.call('ZADD', delayed, now + delay, id)
        else
          redis.call('XADD', stream, '*', unpack(fields))
        end
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
    /// then takes over one entry whose claim expired (delivery count + 1; dead-lettered when
    /// that exceeds maxAttempts), else reads one new entry, and leases it until now +
    /// visibility.
    ///
    /// Returns `{'m', entry ID, delivery count, fields}` or, when nothing is visible,
    /// `{'n', group's last-delivered ID, ms until the next lease or delayed message is due (-1: none)}`.
    static let take = RedisScript(prelude + """
        local me, vis = ARGV[2], tonumber(ARGV[3])
        local now = now_ms()
        promote(now)
        for _ = 1, 50 do
          local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 1)
          if #expired == 0 then break end
          local eid = expired[1]
          local claimed = redis.call('XCLAIM', stream, group, me, 0, eid)
          if #claimed == 0 or not claimed[1] or not claimed[1][2] then
            redis.call('XACK', stream, group, eid)
            redis.call('ZREM', leases, eid)
          else
            local fields = claimed[1][2]
            local count = tonumber(redis.call('XPENDING', stream, group, eid, eid, 1)[1][4])
            local attempt = tonumber(field(fields, 'attempt')) + count - 1
            local maxAttempts = tonumber(field(fields, 'maxAttempts'))
            if attempt > maxAttempts then
              local last = with_field(fields, 'attempt', tostring(attempt - 1))
              last[#last + 1] = 'lastError'
              last[#last + 1] = 'not acknowledged within its visibility timeout (attempt ' .. (attempt - 1) .. ' of ' .. maxAttempts .. ')'
              last[#last + 1] = 'diedAt'
              last[#last + 1] = tostring(now)
              redis.call('XADD', dead, '*', unpack(last))
              settle(eid)
            else
              redis.call('ZADD', leases, now + vis, eid)
              return {'m', eid, count, fields}
            end
          end
        end
        local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', 1, 'STREAMS', stream, '>')
        if r and r[1] and #r[1][2] > 0 then
          local e = r[1][2][1]
          redis.call('ZADD', leases, now + vis, e[1])
          return {'m', e[1], 1, e[2]}
        end
        local last = '0-0'
        for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
          if field(g, 'name') == group then last = field(g, 'last-delivered-id') end
        end
        local wait = -1
        local nextLease = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
        if #nextLease > 0 then wait = math.max(0, tonumber(nextLease[2]) - now) end
        local nextDue = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
        if #nextDue > 0 then
          local d = math.max(0, tonumber(nextDue[2]) - now)
          if wait < 0 or d < wait then wait = d end
        end
        return {'n', last, wait}
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
        local fields = redis.call('XRANGE', stream, eid, eid)[1][2]
        local attempt = tonumber(field(fields, 'attempt')) + count - 1
        local now = now_ms()
        if attempt >= tonumber(field(fields, 'maxAttempts')) then
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
        local last = '0-0'
        for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
          if field(g, 'name') == group then last = field(g, 'last-delivered-id') end
        end
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
