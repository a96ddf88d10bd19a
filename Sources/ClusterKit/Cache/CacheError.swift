/// An error from a cache operation. Compare ``code`` to tell cases apart; ``message`` says
/// what happened in words (never containing a password).
public struct CacheError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The key is empty or too long.
        public static let invalidKey = Code("invalidKey")
        /// The cache name has characters outside `[A-Za-z0-9_.-]`.
        public static let invalidName = Code("invalidName")
        /// `increment` found a value that is not a 64-bit decimal integer, or would overflow.
        public static let notNumeric = Code("notNumeric")
        /// The value could not be encoded; nothing was written.
        public static let encodingFailed = Code("encodingFailed")
        /// The stored bytes could not be decoded as the requested type.
        public static let decodingFailed = Code("decodingFailed")
        /// The backend failed (connection lost, timeout, server error).
        public static let backend = Code("backend")
        /// The store was closed.
        public static let closed = Code("closed")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "CacheError.\(code): \(message)" }

    public static func invalidKey(_ reason: String) -> CacheError { .init(code: .invalidKey, message: "invalid cache key: \(reason)") }
    public static func invalidName(_ name: String) -> CacheError {
        .init(code: .invalidName, message: "invalid cache name '\(name)': use 1-128 characters from [A-Za-z0-9_.-]")
    }
    public static func notNumeric(key: String) -> CacheError {
        .init(code: .notNumeric, message: "the value at '\(key)' is not a 64-bit integer (or the increment overflows)")
    }
    public static func encodingFailed(_ underlying: any Error) -> CacheError {
        .init(code: .encodingFailed, message: "could not encode the value: \(underlying)")
    }
    public static func decodingFailed(key: String, _ underlying: any Error) -> CacheError {
        .init(code: .decodingFailed, message: "could not decode the value at '\(key)': \(underlying)")
    }
    public static func backend(_ message: String) -> CacheError { .init(code: .backend, message: message) }
    public static let closed = CacheError(code: .closed, message: "the cache store is closed")
}
