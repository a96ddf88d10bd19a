import ClusterKit

extension RedisPubSub {
    /// Tuning of a ``RedisPubSub`` node.
    public struct Configuration: Sendable, Hashable {
        /// Entries kept per channel stream (`XADD … MAXLEN ~ retention`): a subscriber that
        /// is disconnected for longer than it takes to publish this many messages on a
        /// channel loses the oldest of them. Default 10 000.
        public var retention: Int
        /// How long one `XREAD` waits for new entries before it is re-issued. It bounds how
        /// long a subscribe waits when the wake-up (`CLIENT UNBLOCK`) misses the read, and
        /// the reader connection's command timeout is this plus the client's command
        /// timeout. Default 500 ms.
        public var blockTime: Duration
        /// Entries read per stream and `XREAD`. Default 100.
        public var readCount: Int
        /// The largest payload accepted, in bytes; larger ones throw
        /// ``PubSubError/Code/payloadTooLarge``. Default 16 MiB.
        public var maxPayloadSize: Int
        /// How long a publish keeps retrying while the server cannot be reached (the
        /// command was certainly not sent) before it throws ``PubSubError/Code/backend``.
        /// Default 5 s.
        public var publishRetryTimeout: Duration

        public init(retention: Int = 10_000, blockTime: Duration = .milliseconds(500), readCount: Int = 100,
                    maxPayloadSize: Int = 16 * 1024 * 1024, publishRetryTimeout: Duration = .seconds(5)) {
            self.retention = max(1, retention)
            self.blockTime = max(.milliseconds(1), blockTime)
            self.readCount = max(1, readCount)
            self.maxPayloadSize = max(0, maxPayloadSize)
            self.publishRetryTimeout = max(.zero, publishRetryTimeout)
        }
    }
}
