/// The Lua scripts of ``RedisLock``; each runs atomically on the server, so no
/// check-then-act race exists between nodes.
enum RedisLockScripts {
    /// `SET KEYS[1] ARGV[1] NX PX ARGV[2]`; on success `INCR` the fencing counter KEYS[2]
    /// and return it, else nil.
    static let acquire = RedisScript("""
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return redis.call('INCR', KEYS[2])
        end
        return false
        """)

    /// Deletes KEYS[1] only if it holds the owner token ARGV[1]; returns 1 if it did.
    static let release = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """)

    /// Sets the TTL of KEYS[1] to ARGV[2] ms only if it holds the owner token ARGV[1].
    static let extend = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """)
}
