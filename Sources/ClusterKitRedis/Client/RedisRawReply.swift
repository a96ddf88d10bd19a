import CHiredis

/// One reply as hiredis parsed it into a ``RedisFlatReply`` arena, for decoders that read a
/// reply on the connection's thread (``RedisClient/send(_:decodingReplyWith:)``) instead of
/// copying it into a ``RedisReply`` tree first: a stream read then costs the decoder's own
/// allocations only (e.g. one per payload), neither hiredis's two allocations per reply
/// element nor one Swift array per reply node.
///
/// Valid only for the duration of the decode call that received it: the arena is reused
/// for the next reply, so neither the view nor its ``bytes`` may be kept. Not `Sendable`.
package struct RedisRawReply {
    /// The reply types of RESP2.
    package enum Kind: Sendable, Hashable {
        case bulk, status, error, integer, array, null
        /// A type this client does not know (never sent by a RESP2 server).
        case unknown
    }

    private let flat: UnsafePointer<clusterkit_flat_reply>
    private let index: Int

    init(_ flat: UnsafePointer<clusterkit_flat_reply>, index: Int = 0) {
        self.flat = flat
        self.index = index
    }

    private var node: clusterkit_flat_node { flat.pointee.nodes[index] }

    package var kind: Kind {
        switch node.type {
        case REDIS_REPLY_STRING: .bulk
        case REDIS_REPLY_ARRAY: .array
        case REDIS_REPLY_INTEGER: .integer
        case REDIS_REPLY_NIL: .null
        case REDIS_REPLY_STATUS: .status
        case REDIS_REPLY_ERROR: .error
        default: .unknown
        }
    }

    /// The elements of an array reply, 0 for any other kind.
    package var count: Int {
        let node = node
        return node.type == REDIS_REPLY_ARRAY ? Int(node.elements) : 0
    }

    /// The elements of an array reply in order (none for other kinds); each step is O(1).
    package var elements: Elements { Elements(flat: flat, position: index + 1, remaining: count) }

    /// Element `position` (`0 ..< count`) of an array reply (O(position): prefer
    /// ``elements`` to walk an array).
    package subscript(position: Int) -> RedisRawReply? {
        precondition(position >= 0 && position < count, "reply element \(position) out of 0..<\(count)")
        var child = index + 1
        for _ in 0..<position { child = Int(flat.pointee.nodes[child].end) }
        return RedisRawReply(flat, index: child)
    }

    /// The bytes of a bulk, status or error reply (empty for other kinds). Points into the
    /// arena: copy what must outlive the decode call.
    package var bytes: UnsafeRawBufferPointer {
        let node = node
        guard node.len > 0, let base = flat.pointee.bytes else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + Int(node.offset), count: Int(node.len))
    }

    /// The value of an integer reply, 0 for other kinds.
    package var integer: Int64 {
        let node = node
        return node.type == REDIS_REPLY_INTEGER ? Int64(node.integer) : 0
    }

    /// The whole reply as a ``RedisReply`` (a copy).
    package var copied: RedisReply {
        switch kind {
        case .bulk: .bulk(Array(bytes))
        case .status: .status(String(decoding: bytes, as: UTF8.self))
        case .error: .error(String(decoding: bytes, as: UTF8.self))
        case .integer: .integer(integer)
        case .null: .null
        case .array: .array(elements.map { $0.copied })
        case .unknown: .error("unsupported reply type \(node.type)")
        }
    }

    /// A ``RedisError/Code/protocolError`` saying the reply is not what `expected` describes.
    package func unexpected(_ expected: String) -> RedisError {
        let shape = switch kind {
        case .bulk: "a bulk string of \(bytes.count) bytes"
        case .status: "a status"
        case .error: "an error"
        case .integer: "integer \(integer)"
        case .array: "an array of \(count)"
        case .null: "null"
        case .unknown: "an unknown reply type"
        }
        return RedisError(code: .protocolError, message: "expected \(expected) reply, got \(shape)")
    }

    /// The elements of an array reply, in order.
    package struct Elements: Sequence, IteratorProtocol {
        fileprivate let flat: UnsafePointer<clusterkit_flat_reply>
        fileprivate var position: Int
        fileprivate var remaining: Int

        package mutating func next() -> RedisRawReply? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            let element = RedisRawReply(flat, index: position)
            position = Int(flat.pointee.nodes[position].end)
            return element
        }

        package var underestimatedCount: Int { remaining }
    }
}

/// The arena replies are parsed into (see `clusterkit_flat_reply` and
/// `clusterkit_flat_parse` in CHiredis: RESP parsed straight into it, hiredis's parser and
/// reply objects are not used): reused from reply to reply, so parsing allocates only when
/// a reply is larger than any before it. Used on one thread at a time (its connection's, or a ``RedisReplyParser``'s
/// owner).
final class RedisFlatReply {
    let pointer: UnsafeMutablePointer<clusterkit_flat_reply>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: clusterkit_flat_reply())
    }

    deinit {
        clusterkit_flat_release(pointer)
        pointer.deallocate()
    }

    /// Reads the next reply of `context` into the arena, reading from its socket as needed
    /// (blocking, bounded by the context's timeout). Returns whether it succeeded; if not,
    /// the context's error fields say why, as hiredis sets them.
    func read(from context: UnsafeMutablePointer<redisContext>) -> Bool {
        clusterkit_flat_read_reply(context, pointer) == REDIS_OK
    }

    /// Parses the reply `reader` holds (bytes the caller fed it), without I/O: 1 when it is
    /// complete, 0 when bytes are missing, -1 when it is malformed. `resuming`: continue
    /// the previous call's reply (it returned 0; more bytes were fed since).
    func parse(_ reader: UnsafeMutablePointer<redisReader>, resuming: Bool = false) -> Int32 {
        if !resuming { clusterkit_flat_begin(pointer, reader) }
        return clusterkit_flat_parse(pointer, reader)
    }

    /// The parsed reply (valid until the next parse).
    var reply: RedisRawReply { RedisRawReply(UnsafePointer(pointer)) }

    /// Gives memory back after an unusually large reply (a large payload), so a connection
    /// does not keep the largest reply it ever read.
    func trim() {
        if pointer.pointee.bytes_capacity > 1 << 20 || pointer.pointee.capacity > 1 << 16 { clusterkit_flat_release(pointer) }
    }
}
