import ClusterKit

/// One stream entry handed to a queue consumer: its entry ID, its delivery count (from the
/// group's pending list; 1 for a first read) and the message made of its fields.
struct RedisQueueDelivery: Sendable {
    let entryID: String
    let deliveries: Int
    let message: QueueMessage
}

/// Decodes the consumer's `XREADGROUP … STREAMS <stream> >` replies as hiredis parsed them
/// (``RedisRawReply``), on the reader connection's thread: neither hiredis's reply tree nor
/// a ``RedisReply`` tree is built (building and freeing them cost ~13k instructions and
/// ~30 allocations per job). Per entry it allocates the body's array and the entry ID's
/// string (when longer than 15 bytes); fields are read where they lie in the arena.
///
/// The rules are those of the ``RedisReply`` decoding it replaces: a reply that is not an
/// array (null: the block timed out or `CLIENT UNBLOCK` ended it) or has no stream is no
/// entries; a stream that is not `[key, entries]`, an entry that is not `[id, fields]` and
/// fields that are not an array (or hold a value that is neither a string nor null) throw
/// ``RedisError/Code/protocolError``; a null entry ID is the empty string; entries of every
/// stored format decode as ``RedisQueueEntry`` reads them.
enum RedisQueueReplyDecoder {
    /// The entries of an `XREADGROUP` reply of one stream, first deliveries of `queue`.
    static func xreadgroup(_ reply: RedisRawReply, queue: String) throws(RedisError) -> [RedisQueueDelivery] {
        guard reply.kind == .array else { return [] }
        var streams = reply.elements
        guard let first = streams.next() else { return [] }
        guard first.kind == .array else { throw first.unexpected("an array") }
        guard first.count == 2 else { throw RedisError(code: .protocolError, message: "malformed XREADGROUP reply") }
        var parts = first.elements
        _ = parts.next()
        guard let list = parts.next() else { throw RedisError(code: .protocolError, message: "malformed XREADGROUP reply") }
        guard list.kind == .array else { throw list.unexpected("an array") }
        var deliveries: [RedisQueueDelivery] = []
        deliveries.reserveCapacity(list.count)
        for entry in list.elements {
            guard entry.kind == .array else { throw entry.unexpected("an array") }
            guard entry.count == 2 else { throw RedisError(code: .protocolError, message: "malformed stream entry") }
            var pair = entry.elements
            guard let idReply = pair.next(), let fieldsReply = pair.next() else {
                throw RedisError(code: .protocolError, message: "malformed stream entry")
            }
            // A null ID is the empty string, as `RedisReply.bytes() ?? []` had it.
            let idBytes = try RedisQueueEntry.bytes(idReply) ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let entryID = String(decoding: idBytes, as: UTF8.self)
            let fields = try RedisQueueEntry.fields(fieldsReply)
            // The publish time is the ID's millisecond part (no `publishedAt` field since
            // entries carry it in their ID): parsed from the bytes at hand, not the `String`.
            let message = try RedisQueueEntry.message(queue: queue, entryID: entryID,
                                                      entryMilliseconds: RedisQueueEntry.milliseconds(ofEntryIDBytes: idBytes),
                                                      fields: fields)
            deliveries.append(RedisQueueDelivery(entryID: entryID, deliveries: 1, message: message))
        }
        return deliveries
    }
}
