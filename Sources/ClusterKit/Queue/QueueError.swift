/// An error from a queue operation; compare ``code``.
public struct QueueError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The queue name has characters outside `[A-Za-z0-9_.-]` or a bad length.
        public static let invalidQueueName = Code("invalidQueueName")
        /// The body is larger than the adapter accepts.
        public static let messageTooLarge = Code("messageTooLarge")
        /// The delivery is unknown or no longer owned (its visibility timeout passed).
        public static let unknownDelivery = Code("unknownDelivery")
        /// A handler ran longer than the message's timeout (reported as the failure reason).
        public static let timedOut = Code("timedOut")
        /// The backend failed or refused (connection lost, nack from the broker).
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

    public var description: String { "QueueError.\(code): \(message)" }

    public static let closed = QueueError(code: .closed, message: "the queue adapter is closed")

    /// The delivery of message `id` is no longer owned by the caller.
    public static func unknownDelivery(_ id: QueueMessageID, queue: String) -> QueueError {
        QueueError(code: .unknownDelivery,
                   message: "message \(id) of queue '\(queue)' is no longer held by this delivery (settled, or redelivered after its visibility timeout)")
    }

    /// A body of `size` bytes exceeds the adapter's `limit`.
    public static func messageTooLarge(size: Int, limit: Int) -> QueueError {
        QueueError(code: .messageTooLarge, message: "message body of \(size) bytes exceeds the limit of \(limit) bytes")
    }

    /// A handler ran past its `timeout`.
    public static func timedOut(_ timeout: Duration) -> QueueError {
        QueueError(code: .timedOut, message: "handler ran longer than its timeout of \(timeout)")
    }
}
