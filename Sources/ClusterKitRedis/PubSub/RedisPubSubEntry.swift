import ClusterKit

/// How a ``PubSubEnvelope`` is stored as a stream entry: field `t` = a random publish
/// token (lets a publisher whose connection broke find out whether its entry was added),
/// `n` = publisher node ID, `r` = routing (`a` all, `s` skipSelf, `o` onlySelf), `d` = the
/// payload as raw bytes (binary-safe bulk string). The channel is the stream's key.
/// Read back by ``RedisPubSubReplyDecoder``.
package enum RedisPubSubEntry {
    /// Builds a node's `XADD`s (`XADD <key> MAXLEN ~ <retention> * t <token> n <node> r <routing>
    /// d <payload>`) from byte arrays prepared once per node, so a publish allocates only
    /// its key, its token and the argument list (going through `[any RedisArgument]`
    /// converted every argument on every publish: ~23k instructions and 18 allocations).
    package struct Writer: Sendable {
        private let keyPrefix: [UInt8]
        private let retention: [UInt8]
        private let publisherID: NodeID
        private let publisher: [UInt8]

        package init(keyPrefix: String, retention: Int, publisherID: NodeID) {
            self.keyPrefix = Array(keyPrefix.utf8)
            self.retention = Array(String(retention).utf8)
            self.publisherID = publisherID
            self.publisher = Array(publisherID.rawValue.utf8)
        }

        /// The `XADD` of `envelope` on its channel's stream.
        package func xadd(_ envelope: PubSubEnvelope, token: [UInt8]) -> RedisCommand {
            var key: [UInt8] = []
            key.reserveCapacity(keyPrefix.count + envelope.channel.utf8.count)
            key += keyPrefix
            key += envelope.channel.utf8
            let publisher = envelope.publisherID == publisherID ? publisher : Array(envelope.publisherID.rawValue.utf8)
            return RedisCommand([Bytes.xadd, key, Bytes.maxlen, Bytes.approximately, retention, Bytes.newID]
                                + RedisPubSubEntry.fields(envelope, token: token, publisher: publisher))
        }
    }

    /// The entry's fields and values (the layout described above).
    static func fields(_ envelope: PubSubEnvelope, token: [UInt8], publisher: [UInt8]) -> [[UInt8]] {
        let routing = envelope.skipSelf ? Bytes.skipSelf : envelope.onlySelf ? Bytes.onlySelf : Bytes.all
        return [Bytes.token, token, Bytes.node, publisher, Bytes.routing, routing, Bytes.payload, envelope.payload]
    }

    /// The fields of `envelope` with a text token (for tests).
    static func fields(_ envelope: PubSubEnvelope, token: String) -> [any RedisArgument] {
        fields(envelope, token: Array(token.utf8), publisher: Array(envelope.publisherID.rawValue.utf8))
    }

    /// A new publish token: 128 random bits as two base-36 numbers joined by a dot.
    package static func newTokenBytes() -> [UInt8] {
        var token: [UInt8] = []
        token.reserveCapacity(27)
        appendBase36(UInt64.random(in: 0 ... .max), to: &token)
        token.append(UInt8(ascii: "."))
        appendBase36(UInt64.random(in: 0 ... .max), to: &token)
        return token
    }

    /// ``newTokenBytes()`` as text.
    package static func newToken() -> String {
        String(decoding: newTokenBytes(), as: UTF8.self)
    }

    private static func appendBase36(_ value: UInt64, to bytes: inout [UInt8]) {
        let start = bytes.count
        var rest = value
        repeat {
            let digit = UInt8(rest % 36)
            bytes.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            rest /= 36
        } while rest > 0
        bytes[start...].reverse()
    }

    /// Constant arguments, shared by every command (no allocation per publish).
    private enum Bytes {
        static let xadd = Array("XADD".utf8)
        static let maxlen = Array("MAXLEN".utf8)
        static let approximately = Array("~".utf8)
        static let newID = Array("*".utf8)
        static let token = Array("t".utf8)
        static let node = Array("n".utf8)
        static let routing = Array("r".utf8)
        static let payload = Array("d".utf8)
        static let all = Array("a".utf8)
        static let skipSelf = Array("s".utf8)
        static let onlySelf = Array("o".utf8)
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
