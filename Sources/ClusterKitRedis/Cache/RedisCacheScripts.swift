/// The Lua scripts of ``RedisCacheStore``; each runs atomically on the server.
enum RedisCacheScripts {
    /// `SET` every key (KEYS) to its value (ARGV[2...]) with one TTL in ms (ARGV[1]).
    static let setManyWithTTL = RedisScript("""
        for i = 1, #KEYS do
            redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
        end
        return #KEYS
        """)

    /// `INCRBY` KEYS[1] by ARGV[1]; when the key is missing it is created holding ARGV[1]
    /// with the TTL ARGV[2] (ms; `-1` none; `0` = store nothing, return the would-be value).
    /// The new value comes back as the stored decimal string: Lua numbers are doubles, so
    /// INCRBY's integer reply would lose precision beyond 2^53 on its way through Lua.
    static let increment = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 1 then
            redis.call('INCRBY', KEYS[1], ARGV[1])
            return redis.call('GET', KEYS[1])
        end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        elseif ttl < 0 then
            redis.call('SET', KEYS[1], ARGV[1])
        end
        return ARGV[1]
        """)

    /// Replaces the TTL of KEYS[1] if it exists: ARGV[1] ms, `-1` = persist, `0` = delete.
    /// Returns 1 if the key existed.
    static let touch = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local ttl = tonumber(ARGV[1])
        if ttl > 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        elseif ttl < 0 then
            redis.call('PERSIST', KEYS[1])
        else
            redis.call('DEL', KEYS[1])
        end
        return 1
        """)
}
