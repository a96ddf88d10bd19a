import ClusterKit
import Glibc

/// Decodes the stream replies the pub/sub reader receives (`XREAD`, `XRANGE`) as hiredis parsed
/// them (``RedisRawReply``) into envelopes, on the reader connection's thread.
///
/// An entry is `[id, [field, value, …]]` (fields as written by ``RedisPubSubEntry``). An
/// entry whose fields are missing, lack the publisher or the payload, or are not an array is
/// returned without an envelope: its ID still advances the reader's position, but nothing is
/// delivered (the same as skipping an entry another program wrote). A reply of the wrong
/// shape throws ``RedisError/Code/protocolError``.
///
/// Allocations per entry: the payload's array only, when the publisher is the same node as
/// the previous entry's in the reply (its ``NodeID`` is reused); the entries' array grows
/// once per stream of the reply.
package enum RedisPubSubReplyDecoder {
    /// One stream's entries, in stream order.
    package struct Stream: Sendable {
        /// The channel: the stream key without the node's key prefix.
        package var channel: String
        package var entries: [Entry]
    }

    package struct Entry: Sendable {
        package var id: RedisStreamID
        /// `nil` for an entry this adapter did not write (skipped, but its ID counts).
        package var envelope: PubSubEnvelope?
    }

    /// An `XREAD … STREAMS …` reply: null (block timeout, or woken) is no streams.
    /// `keyPrefixLength` bytes are dropped from each key to give the channel.
    package static func xread(_ reply: RedisRawReply, keyPrefixLength: Int) throws(RedisError) -> [Stream] {
        switch reply.kind {
        case .null: return []
        case .array: break
        default: throw reply.unexpected("an XREAD array")
        }
        var streams: [Stream] = []
        streams.reserveCapacity(reply.count)
        for stream in reply.elements {
            var parts = stream.elements
            guard stream.count == 2, let key = parts.next(), key.kind == .bulk, key.bytes.count >= keyPrefixLength,
                  let list = parts.next() else {
                throw stream.unexpected("a [key, entries] stream")
            }
            let channel = String(decoding: UnsafeRawBufferPointer(rebasing: key.bytes[keyPrefixLength...]), as: UTF8.self)
            streams.append(Stream(channel: channel, entries: try entries(list, channel: channel)))
        }
        return streams
    }

    /// An `XRANGE`/`XREVRANGE` reply (an array of entries) of `channel`'s stream.
    package static func entries(_ list: RedisRawReply, channel: String) throws(RedisError) -> [Entry] {
        guard list.kind == .array else { throw list.unexpected("an array of stream entries") }
        var entries: [Entry] = []
        entries.reserveCapacity(list.count)
        var publisher: NodeID?
        for entry in list.elements {
            entries.append(try decode(entry, channel: channel, lastPublisher: &publisher))
        }
        return entries
    }

    /// One `[id, [field, value, …]]` entry. `lastPublisher` is the previous entry's
    /// publisher: reused (not rebuilt from bytes) when this entry has the same one.
    static func decode(_ entry: RedisRawReply, channel: String, lastPublisher: inout NodeID?) throws(RedisError) -> Entry {
        var parts = entry.elements
        guard entry.count == 2, let idReply = parts.next(), idReply.kind == .bulk, let fields = parts.next() else {
            throw entry.unexpected("a stream entry")
        }
        let id = try RedisStreamID(parsing: idReply.bytes)
        guard fields.kind == .array else { return Entry(id: id, envelope: nil) }
        var publisherBytes: UnsafeRawBufferPointer?
        var routing = UInt8(ascii: "a")
        var payload: UnsafeRawBufferPointer?
        var pairs = fields.elements
        while let name = pairs.next(), let value = pairs.next() {
            // Field names are one byte; values are read where they are only when needed.
            if name.bytes.count == 1 {
                switch name.bytes[0] {
                case UInt8(ascii: "n"): publisherBytes = value.bytes
                case UInt8(ascii: "r"): routing = value.bytes.count == 1 ? value.bytes[0] : UInt8(ascii: "a")
                case UInt8(ascii: "d"): payload = value.bytes
                default: break
                }
            }
        }
        guard let publisherBytes, !publisherBytes.isEmpty, let payload else { return Entry(id: id, envelope: nil) }
        let publisherID: NodeID
        if let last = lastPublisher, Self.equal(last.rawValue, publisherBytes) {
            publisherID = last
        } else {
            publisherID = NodeID(String(decoding: publisherBytes, as: UTF8.self))
            lastPublisher = publisherID
        }
        let envelope = PubSubEnvelope(channel: channel, payload: Array(payload), publisherID: publisherID,
                                      skipSelf: routing == UInt8(ascii: "s"), onlySelf: routing == UInt8(ascii: "o"))
        return Entry(id: id, envelope: envelope)
    }

    private static func equal(_ text: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == bytes.count else { return false }
        return utf8.withContiguousStorageIfAvailable { stored in
            stored.count == 0 || memcmp(stored.baseAddress!, bytes.baseAddress!, stored.count) == 0
        } ?? utf8.elementsEqual(bytes)
    }
}
