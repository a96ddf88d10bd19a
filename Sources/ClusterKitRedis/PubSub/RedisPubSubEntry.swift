import ClusterKit

/// How a ``PubSubEnvelope`` is stored as a stream entry: field `t` = a random publish
/// token (lets a publisher whose connection broke find out whether its entry was added),
/// `n` = publisher node ID, `r` = routing (`a` all, `s` skipSelf, `o` onlySelf), `d` = the
/// payload as raw bytes (binary-safe bulk string). The channel is the stream's key.
/// Read back by ``RedisPubSubReplyDecoder``.
package enum RedisPubSubEntry {
    /// The `XADD` of one publish: `XADD <key> MAXLEN ~ <retention> * t <token> n … r … d …`.
    package static func xadd(key: String, retention: Int, envelope: PubSubEnvelope, token: String) -> RedisCommand {
        RedisCommand("XADD", arguments: [key, "MAXLEN", "~", retention, "*"] + fields(envelope, token: token))
    }

    static func fields(_ envelope: PubSubEnvelope, token: String) -> [any RedisArgument] {
        let routing = envelope.skipSelf ? "s" : envelope.onlySelf ? "o" : "a"
        return ["t", token, "n", envelope.publisherID.rawValue, "r", routing, "d", envelope.payload]
    }

    /// A new publish token (128 random bits, base 36).
    package static func newToken() -> String {
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
}
