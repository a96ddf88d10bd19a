import CHiredis

/// Parses RESP bytes into a ``RedisFlatReply`` arena, exactly as a connection parses a
/// reply from its socket (or, with ``reply(_:)``, with hiredis's own parser into its reply
/// tree, as a reference), and hands each reply to a
/// decoder as a ``RedisRawReply`` (or a copied ``RedisReply``). For tests and the hot-path
/// measurements: it lets a decoder run on a known reply without a server. Not thread-safe
/// (one hiredis reader); not `Sendable`.
package final class RedisReplyParser {
    private let reader: UnsafeMutablePointer<redisReader>
    private let flat = RedisFlatReply()

    package init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reply reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Parses the one complete reply `bytes` hold and returns what `decode` makes of it (an
    /// error reply is passed to `decode` like any other). Throws
    /// ``RedisError/Code/protocolError`` for malformed, incomplete or extra bytes (after
    /// which the parser may hold a partial reply: use a new one).
    package func decode<Decoded>(_ bytes: [UInt8], _ decode: (RedisRawReply) throws(RedisError) -> Decoded) throws(RedisError) -> Decoded {
        try self.decode(arrivingIn: [bytes], decode)
    }

    /// ``decode(_:_:)`` of a reply that arrives in `chunks`, as from several reads of a
    /// socket: each chunk is fed to the reader and the parse resumes where it stopped.
    package func decode<Decoded>(arrivingIn chunks: [[UInt8]], _ decode: (RedisRawReply) throws(RedisError) -> Decoded) throws(RedisError) -> Decoded {
        var status: Int32 = 0
        for (index, chunk) in chunks.enumerated() {
            let fed = chunk.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
            }
            guard fed == REDIS_OK else { throw RedisError(code: .protocolError, message: "hiredis refused the bytes") }
            status = flat.parse(reader, resuming: index > 0)
            if status != 0 { break }
        }
        switch status {
        case 1: break
        case 0: throw RedisError(code: .protocolError, message: "incomplete reply")
        default: throw RedisError(code: .protocolError, message: "malformed reply")
        }
        guard reader.pointee.pos == reader.pointee.len else { throw RedisError(code: .protocolError, message: "more than one reply") }
        return try decode(flat.reply)
    }

    /// The one reply `bytes` hold, parsed into hiredis's own reply tree and copied into a
    /// ``RedisReply``: the path of every command sent with ``RedisClient/send(_:)``.
    package func reply(_ bytes: [UInt8]) throws(RedisError) -> RedisReply {
        let fed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
        }
        guard fed == REDIS_OK else { throw RedisError(code: .protocolError, message: "hiredis refused the bytes") }
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw RedisError(code: .protocolError, message: "malformed reply") }
        guard let raw else { throw RedisError(code: .protocolError, message: "incomplete reply") }
        defer { freeReplyObject(raw) }
        guard reader.pointee.pos == reader.pointee.len else { throw RedisError(code: .protocolError, message: "more than one reply") }
        return RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }
}
