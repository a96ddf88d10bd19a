import ClusterKit

/// How a ``PubSubEnvelope`` is stored as a stream entry: field `t` = a random publish
/// token (lets a publisher whose connection broke find out whether its entry was added),
/// `n` = publisher node ID, `r` = routing (`a` all, `s` skipSelf, `o` onlySelf), `d` = the
/// payload as raw bytes (binary-safe bulk string). The channel is the stream's key.
enum RedisPubSubEntry {
    static func fields(_ envelope: PubSubEnvelope, token: String) -> [any RedisArgument] {
        let routing = envelope.skipSelf ? "s" : envelope.onlySelf ? "o" : "a"
        return ["t", token, "n", envelope.publisherID.rawValue, "r", routing, "d", envelope.payload]
    }

    /// A new publish token (128 random bits, base 36).
    static func newToken() -> String {
        String(UInt64.random(in: 0 ... .max), radix: 36) + "." + String(UInt64.random(in: 0 ... .max), radix: 36)
    }

    /// Returns 1 when one of the newest `ARGV[2]` entries of stream `KEYS[1]` has token
    /// `ARGV[1]` (field `t`, always the first field), else 0. Runs on the server, so
    /// payloads are not transferred.
    static let containsToken = RedisScript("""
        local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])
        for _, entry in ipairs(entries) do
          local fields = entry[2]
          if fields[1] == 't' and fields[2] == ARGV[1] then return 1 end
        end
        return 0
        """)

    /// The envelope of one `[id, [field, value, …]]` entry; `nil` for an entry this adapter
    /// did not write (missing fields), which is skipped.
    static func decode(_ entry: RedisReply, channel: String) throws(RedisError) -> (RedisStreamID, PubSubEnvelope?) {
        let parts = try entry.array()
        guard parts.count == 2, let idBytes = try parts[0].bytes() else { throw entry.unexpected("a stream entry") }
        let id = try RedisStreamID(parsing: idBytes)
        guard case .array(let flat) = parts[1] else { return (id, nil) }
        var publisher: String?
        var routing = "a"
        var payload: [UInt8]?
        var index = 0
        while index + 1 < flat.count {
            // Field names are one byte; compared as bytes (no String per field).
            let name = try flat[index].bytes() ?? []
            if name.count == 1 {
                switch name[0] {
                case UInt8(ascii: "n"): publisher = String(decoding: try flat[index + 1].bytes() ?? [], as: UTF8.self)
                case UInt8(ascii: "r"): routing = String(decoding: try flat[index + 1].bytes() ?? [], as: UTF8.self)
                case UInt8(ascii: "d"): payload = try flat[index + 1].bytes() ?? []
                default: break
                }
            }
            index += 2
        }
        guard let publisher, !publisher.isEmpty, let payload else { return (id, nil) }
        let envelope = PubSubEnvelope(channel: channel, payload: payload, publisherID: NodeID(publisher),
                                      skipSelf: routing == "s", onlySelf: routing == "o")
        return (id, envelope)
    }
}
