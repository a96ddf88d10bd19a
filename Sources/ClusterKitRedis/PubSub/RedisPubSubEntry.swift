import ClusterKit

/// How a ``PubSubEnvelope`` is stored as a stream entry: field `n` = publisher node ID,
/// `r` = routing (`a` all, `s` skipSelf, `o` onlySelf), `d` = the payload as raw bytes
/// (binary-safe bulk string). The channel is the stream's key.
enum RedisPubSubEntry {
    static func fields(_ envelope: PubSubEnvelope) -> [any RedisArgument] {
        let routing = envelope.skipSelf ? "s" : envelope.onlySelf ? "o" : "a"
        return ["n", envelope.publisherID.rawValue, "r", routing, "d", envelope.payload]
    }

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
            let name = String(decoding: try flat[index].bytes() ?? [], as: UTF8.self)
            let value = try flat[index + 1].bytes() ?? []
            switch name {
            case "n": publisher = String(decoding: value, as: UTF8.self)
            case "r": routing = String(decoding: value, as: UTF8.self)
            case "d": payload = value
            default: break
            }
            index += 2
        }
        guard let publisher, !publisher.isEmpty, let payload else { return (id, nil) }
        let envelope = PubSubEnvelope(channel: channel, payload: payload, publisherID: NodeID(publisher),
                                      skipSelf: routing == "s", onlySelf: routing == "o")
        return (id, envelope)
    }
}
