/// An error from the Redis client. Compare ``code``; ``message`` says what happened and
/// never contains a password (the URL in messages is always the redacted `RedisURL`
/// description).
public struct RedisError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No connection could be made (refused, unreachable, connect timeout, DNS).
        public static let connectionFailed = Code("connectionFailed")
        /// The server refused the credentials (`WRONGPASS`, `NOAUTH`, …).
        public static let authenticationFailed = Code("authenticationFailed")
        /// The server did not answer within the command timeout. The command may still
        /// have been executed by the server; the connection is dropped and re-established.
        public static let timeout = Code("timeout")
        /// An established connection broke (server restart, `CLIENT KILL`, network). The
        /// command may or may not have been executed.
        public static let connectionLost = Code("connectionLost")
        /// The server answered with an error reply; ``RedisError/message`` carries it.
        public static let serverError = Code("serverError")
        /// The server's reply could not be parsed, or had an unexpected shape.
        public static let protocolError = Code("protocolError")
        /// The client was closed.
        public static let closed = Code("closed")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RedisError.\(code): \(message)" }

    /// The server's error reply (`ERR …`, `WRONGTYPE …`, `NOSCRIPT …`).
    public static func serverError(_ message: String) -> RedisError { RedisError(code: .serverError, message: message) }
    public static let closed = RedisError(code: .closed, message: "the Redis client is closed")

    /// Whether this is a server error reply whose first word is `prefix` (e.g. `NOSCRIPT`).
    func isServerError(prefix: String) -> Bool {
        code == .serverError && message.hasPrefix(prefix)
    }
}
