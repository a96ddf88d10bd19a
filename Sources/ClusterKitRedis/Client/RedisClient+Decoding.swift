extension RedisClient {
    /// Runs one command like ``send(_:)`` (an error reply throws
    /// ``RedisError/Code/serverError``), but hands the reply to `decode` on the connection's
    /// thread as hiredis parsed it into the connection's reusable arena (``RedisRawReply``),
    /// and returns what `decode` made of it: neither hiredis's reply tree nor a
    /// ``RedisReply`` tree is built. For replies read in bulk (a stream reader's
    /// `XREAD`), where that copy cost more than the decoding itself.
    ///
    /// Commands queued earlier on the connection are answered first; this one is not
    /// auto-pipelined with concurrent callers (see ``RedisConnection/submit(_:decodingWith:)``).
    /// After ``close()`` it throws ``RedisError/closed`` without touching a connection.
    package func send<Decoded: Sendable>(_ command: RedisCommand,
                                         decodingReplyWith decode: @Sendable (RedisRawReply) throws(RedisError) -> Decoded) async throws(RedisError) -> Decoded {
        if isClosed { throw RedisError.closed }
        return try await pick().submit(command, decodingWith: decode)
    }
}
