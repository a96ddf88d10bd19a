/// An error from a pub/sub operation; compare ``code``.
public struct PubSubError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The channel name is empty, too long or has characters outside `[A-Za-z0-9_.:-]`.
        public static let invalidChannel = Code("invalidChannel")
        /// `skipSelf` and `onlySelf` were both set.
        public static let invalidOptions = Code("invalidOptions")
        /// The payload is larger than the adapter accepts.
        public static let payloadTooLarge = Code("payloadTooLarge")
        /// The backend failed (connection lost past the retry bound, server error).
        public static let backend = Code("backend")
        /// The adapter was closed.
        public static let closed = Code("closed")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "PubSubError.\(code): \(message)" }

    public static let closed = PubSubError(code: .closed, message: "the pub/sub adapter is closed")
    public static let conflictingOptions = PubSubError(code: .invalidOptions, message: "skipSelf and onlySelf cannot both be set")
}
