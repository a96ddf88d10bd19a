import CHiredis

/// One reply from the server, copied out of hiredis (so it outlives the C reply object).
/// Bulk strings are raw bytes: values are binary-safe.
public enum RedisReply: Sendable, Hashable {
    /// A bulk string.
    case bulk([UInt8])
    /// A simple status reply (`OK`, `QUEUED`, `PONG`).
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    /// A nil bulk string or nil array (missing key, refused `SET NX`, aborted `EXEC`).
    case null
    /// An error reply. ``RedisClient/send(_:)`` throws it as ``RedisError/Code/serverError``;
    /// inside pipelines and arrays it is kept as a value.
    case error(String)

    /// Copies a hiredis reply tree.
    init(copying reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(r.str == nil ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len))))
        case REDIS_REPLY_STATUS:
            self = .status(RedisReply.text(r))
        case REDIS_REPLY_ERROR:
            self = .error(RedisReply.text(r))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(r.elements))
            for index in 0..<Int(r.elements) {
                if let element = clusterkit_redis_element(reply, index) {
                    elements.append(RedisReply(copying: element))
                } else {
                    elements.append(.null)
                }
            }
            self = .array(elements)
        default:
            self = .error("unsupported reply type \(r.type)")
        }
    }

    private static func text(_ r: redisReply) -> String {
        guard let str = r.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(r.len)), as: UTF8.self)
    }

    // MARK: Typed access (throw protocolError on an unexpected shape)

    /// The bytes of a bulk reply, `nil` for a null reply.
    public func bytes() throws(RedisError) -> [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        case .null: return nil
        default: throw unexpected("a bulk string")
        }
    }

    /// The value of an integer reply (or of a bulk/status reply holding a decimal integer).
    public func integer() throws(RedisError) -> Int64 {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes):
            guard let value = Int64(String(decoding: bytes, as: UTF8.self)) else { throw unexpected("an integer") }
            return value
        default: throw unexpected("an integer")
        }
    }

    /// The elements of an array reply.
    public func array() throws(RedisError) -> [RedisReply] {
        guard case .array(let elements) = self else { throw unexpected("an array") }
        return elements
    }

    public var isNull: Bool { self == .null }

    /// Throws the error reply as ``RedisError/Code/serverError``; returns `self` otherwise.
    public func checked() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError.serverError(message) }
        return self
    }

    func unexpected(_ expected: String) -> RedisError {
        RedisError(code: .protocolError, message: "expected \(expected) reply, got \(shape)")
    }

    private var shape: String {
        switch self {
        case .bulk(let bytes): "a bulk string of \(bytes.count) bytes"
        case .status(let text): "status \(text)"
        case .integer(let value): "integer \(value)"
        case .array(let elements): "an array of \(elements.count)"
        case .null: "null"
        case .error(let message): "error \(message)"
        }
    }
}
