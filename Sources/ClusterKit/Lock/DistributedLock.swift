/// Mutual exclusion across the nodes of a cluster.
///
/// ## Semantics every adapter follows
/// - Keys live in the app namespace (`APP_NAME:lock:<key>`); any non-empty key up to 1 KiB.
/// - Every acquisition gets a unique owner token and a fencing token that strictly
///   increases per key across all nodes. Pass the fencing token to the resource you
///   protect and have it reject smaller tokens than it has seen: that is the only defence
///   against a holder paused past its TTL (GC, swap, SIGSTOP).
/// - The TTL is a safety net: a lock whose holder never releases it becomes free after the
///   TTL. ``withLock(_:ttl:timeout:_:)`` extends it while the body runs.
/// - ``release(_:)`` is idempotent and never frees a lock held by another owner; it reports
///   whether this owner still held it. ``extend(_:ttl:)`` likewise only works for the
///   current owner.
/// - ``tryAcquire(_:ttl:)`` never waits. ``acquire(_:ttl:timeout:)`` waits up to `timeout`
///   and then throws ``LockError/Code/timedOut``; cancelling the waiting task stops the wait and
///   leaves nothing behind.
public protocol DistributedLock: ClusterAdapter {
    /// Takes the lock if free; `nil` if another owner holds it.
    func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease?

    /// Takes the lock, waiting up to `timeout` for it to become free.
    func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease

    /// Frees the lock if `lease` still holds it; returns whether it did.
    @discardableResult
    func release(_ lease: LockLease) async throws -> Bool

    /// Sets the remaining lifetime of a held lock to `ttl`; returns `false` (changing
    /// nothing) when `lease` no longer holds it.
    func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool
}

/// Proof of holding a lock.
public struct LockLease: Sendable, Hashable, CustomStringConvertible {
    /// The key as given (without the app prefix).
    public let key: String
    /// Unique per acquisition; identifies the owner to release/extend.
    public let ownerToken: String
    /// Strictly increasing per key; pass it to the protected resource.
    public let fencingToken: UInt64
    /// The TTL requested at acquisition.
    public let ttl: Duration

    public init(key: String, ownerToken: String, fencingToken: UInt64, ttl: Duration) {
        self.key = key
        self.ownerToken = ownerToken
        self.fencingToken = fencingToken
        self.ttl = ttl
    }

    public var description: String { "LockLease(\(key), fencing \(fencingToken))" }
}

/// Rules for lock keys shared by all adapters.
public enum LockKeyRules {
    /// Longest accepted key, in UTF-8 bytes.
    public static let maximumKeyLength = 1024

    /// Throws ``LockError/Code/invalidKey`` for an empty or too long key, and
    /// ``LockError/Code/invalidTTL`` for a TTL that is not positive.
    public static func validate(_ key: String, ttl: Duration) throws(LockError) {
        if key.isEmpty || key.utf8.count > maximumKeyLength {
            throw LockError(code: .invalidKey, message: "lock keys must be 1-\(maximumKeyLength) bytes long")
        }
        if ttl <= .zero {
            throw LockError(code: .invalidTTL, message: "a lock TTL must be positive")
        }
    }
}
