import CHiredis

/// A view of one node of a reply as hiredis parsed it, for decoders that read a reply on
/// the connection's thread (``RedisClient/send(_:decodingReplyWith:)``) instead of copying
/// it into a ``RedisReply`` tree first: a stream read then costs the decoder's own
/// allocations only (e.g. one per payload), not one Swift array per reply node.
///
/// Valid only for the duration of the decode call that received it: the reply is freed right
/// after, so neither the view nor its ``bytes`` may be kept. It is not `Sendable`.
package struct RedisRawReply {
    /// The reply types of RESP2.
    package enum Kind: Sendable, Hashable {
        case bulk, status, error, integer, array, null
        /// A type this client does not know (never sent by a RESP2 server).
        case unknown
    }

    private let pointer: UnsafePointer<redisReply>

    init(_ pointer: UnsafePointer<redisReply>) { self.pointer = pointer }

    package var kind: Kind {
        switch pointer.pointee.type {
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
        pointer.pointee.type == REDIS_REPLY_ARRAY ? Int(pointer.pointee.elements) : 0
    }

    /// Element `index` (`0 ..< count`) of an array reply; a missing element reads as null.
    package subscript(index: Int) -> RedisRawReply? {
        precondition(index >= 0 && index < count, "reply element \(index) out of 0..<\(count)")
        return clusterkit_redis_element(pointer, index).map { RedisRawReply(UnsafePointer($0)) }
    }

    /// The bytes of a bulk, status or error reply (empty for other kinds). Points into the
    /// reply: copy what must outlive the decode call.
    package var bytes: UnsafeRawBufferPointer {
        let r = pointer.pointee
        switch r.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            guard let str = r.str else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(start: str, count: Int(r.len))
        default:
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
    }

    /// The value of an integer reply, 0 for other kinds.
    package var integer: Int64 {
        pointer.pointee.type == REDIS_REPLY_INTEGER ? Int64(pointer.pointee.integer) : 0
    }

    /// The whole reply as a ``RedisReply`` (a copy).
    package var copied: RedisReply { RedisReply(copying: pointer) }

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
}
