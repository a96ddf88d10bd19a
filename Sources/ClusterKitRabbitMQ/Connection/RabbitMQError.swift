/// An error from the RabbitMQ backend (connecting, a broker refusal, a lost connection);
/// compare ``code``. Messages name the host, port, user and vhost but never the password.
public struct RabbitMQError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The broker refused the user name or password (AMQP 403 at login).
        public static let authenticationFailed = Code("authenticationFailed")
        /// The virtual host does not exist or the user may not use it (AMQP 530 at open).
        public static let unknownVirtualHost = Code("unknownVirtualHost")
        /// No connection could be made within the connect timeout (refused, unreachable,
        /// unresolvable, or a peer that does not speak AMQP).
        public static let connectionFailed = Code("connectionFailed")
        /// An established connection broke (closed by the broker or an operator, a restart,
        /// missed heartbeats, a socket error).
        public static let connectionLost = Code("connectionLost")
        /// The broker closed a channel (``RabbitMQError/replyCode`` says why).
        public static let channelClosed = Code("channelClosed")
        /// The broker nacked a publish (it could not take responsibility for it).
        public static let publishRejected = Code("publishRejected")
        /// A mandatory publish matched no queue (basic.return).
        public static let unroutable = Code("unroutable")
        /// A publish was not confirmed within its bound (also across reconnects).
        public static let timedOut = Code("timedOut")
        /// The connection was closed by this process.
        public static let closed = Code("closed")
    }

    public let code: Code
    public let message: String
    /// The AMQP reply code the broker sent, when it sent one.
    public let replyCode: Int?

    public init(code: Code, message: String, replyCode: Int? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
    }

    public var description: String {
        "RabbitMQError.\(code): \(message)" + (replyCode.map { " (reply code \($0))" } ?? "")
    }
}
