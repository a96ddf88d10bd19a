/// An error from a lock operation; compare ``code``.
public struct LockError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The key is empty or longer than 1 KiB.
        public static let invalidKey = Code("invalidKey")
        /// The TTL is zero or negative.
        public static let invalidTTL = Code("invalidTTL")
        /// `acquire` waited its whole timeout.
        public static let timedOut = Code("timedOut")
        /// `withLock` lost the lease while its body ran (extension refused or failed).
        public static let leaseLost = Code("leaseLost")
        /// The backend failed.
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

    public var description: String { "LockError.\(code): \(message)" }

    public static func timedOut(key: String, after timeout: Duration) -> LockError {
        LockError(code: .timedOut, message: "could not acquire lock '\(key)' within \(timeout)")
    }
    public static func leaseLost(_ lease: LockLease) -> LockError {
        LockError(code: .leaseLost, message: "lost lock '\(lease.key)' (fencing \(lease.fencingToken)) while the body ran")
    }
    public static let closed = LockError(code: .closed, message: "the lock adapter is closed")
}
