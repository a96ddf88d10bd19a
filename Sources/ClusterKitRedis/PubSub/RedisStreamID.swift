/// A Redis stream entry ID (`<milliseconds>-<sequence>`), ordered as Redis orders them.
struct RedisStreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    var milliseconds: UInt64
    var sequence: UInt64

    /// `0-0`: before every entry (reading from it returns the whole stream).
    static let zero = RedisStreamID(milliseconds: 0, sequence: 0)

    init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `1700000000000-3`; throws ``RedisError/Code/protocolError`` otherwise.
    init(parsing bytes: [UInt8]) throws(RedisError) {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else {
            throw RedisError(code: .protocolError, message: "malformed stream entry ID '\(text)'")
        }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    static func < (lhs: RedisStreamID, rhs: RedisStreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }

    var description: String { "\(milliseconds)-\(sequence)" }
}

extension RedisStreamID: RedisArgument {
    var redisBytes: [UInt8] { Array(description.utf8) }
}
