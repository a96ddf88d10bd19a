import ClusterKit
import Synchronization

/// A ``DistributedLock`` on Redis, following Redis's single-instance locking pattern with
/// fencing tokens.
///
/// ## Semantics
/// - The lock is the key `APP_NAME:lock:<key>` holding the owner token, set with
///   `SET … NX PX ttl`; in the same Lua script the per-key counter
///   `APP_NAME:lockfence:<key>` is incremented and returned as the fencing token, so tokens
///   strictly increase per key across all nodes. Counters never expire (one small key per
///   lock key ever used): an expiring counter could restart and hand out a token a
///   protected resource has already seen.
/// - ``release(_:)`` and ``extend(_:ttl:)`` are token-checked Lua scripts: they never touch
///   a lock another owner holds, and an expired owner can neither release nor extend.
/// - ``acquire(_:ttl:timeout:)`` polls with jittered exponential backoff (5 ms doubling to
///   100 ms) until the timeout, then throws ``LockError/timedOut``. A cancelled waiter stops
///   at once with `CancellationError`; if its last attempt had just taken the lock, the
///   lock is released before returning, so nothing is left behind.
/// - ``withLock(_:ttl:timeout:_:)`` (from the protocol) extends the lease every TTL/3.
/// - Server failures are ``LockError/Code/backend`` errors; the client reconnects by itself.
/// - ``close()`` closes this node's connections; locks it holds stay held until their TTL,
///   as they would if the process died. Later calls throw ``LockError/closed``.
public final class RedisLock: DistributedLock {
    private let client: RedisClient
    private let nodeID: NodeID
    private let lockPrefix: String
    private let fencePrefix: String
    private let closed = Atomic<Bool>(false)
    /// Delays between attempts of a waiting `acquire`.
    private let retry = Backoff(initial: .milliseconds(5), multiplier: 2, maximum: .milliseconds(100), jitter: 0.5)

    public init(client: RedisClient, appName: String, nodeID: NodeID = .generate()) {
        self.client = client
        self.nodeID = nodeID
        self.lockPrefix = "\(appName):\(Primitive.lock.keyRole):"
        self.fencePrefix = "\(appName):\(Primitive.lock.keyRole)fence:"
    }

    /// The node the registry builds: its own connections to the context's URL.
    public convenience init(context: AdapterContext) async throws {
        self.init(client: try await RedisClient.connect(for: context), appName: context.appName, nodeID: context.nodeID)
    }

    public func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? {
        try LockKeyRules.validate(key, ttl: ttl)
        return try await attempt(key, ttl: ttl)
    }

    public func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        try LockKeyRules.validate(key, ttl: ttl)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var retries = 0
        while true {
            try Task.checkCancellation()
            if let lease = try await attempt(key, ttl: ttl) {
                if Task.isCancelled {
                    _ = try? await release(lease)
                    throw CancellationError()
                }
                return lease
            }
            let remaining = deadline - clock.now
            if remaining <= .zero { throw LockError.timedOut(key: key, after: timeout) }
            retries += 1
            try await Task.sleep(for: min(remaining, retry.delay(forRetry: retries)))
        }
    }

    @discardableResult
    public func release(_ lease: LockLease) async throws -> Bool {
        try await run { () throws(RedisError) in
            try await client.evaluate(RedisLockScripts.release, keys: [lockPrefix + lease.key], arguments: [lease.ownerToken]).integer() == 1
        }
    }

    public func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool {
        if ttl <= .zero { throw LockError(code: .invalidTTL, message: "a lock TTL must be positive") }
        return try await run { () throws(RedisError) in
            try await client.evaluate(RedisLockScripts.extend, keys: [lockPrefix + lease.key],
                                      arguments: [lease.ownerToken, milliseconds(ttl)]).integer() == 1
        }
    }

    public func checkHealth() async throws {
        try checkOpen()
        try await client.checkHealth()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        await client.close()
    }

    // MARK: Helpers

    /// One `SET NX` + fencing `INCR` attempt.
    private func attempt(_ key: String, ttl: Duration) async throws(LockError) -> LockLease? {
        let token = randomToken(nodeID)
        let reply = try await run { () throws(RedisError) in
            try await client.evaluate(RedisLockScripts.acquire, keys: [lockPrefix + key, fencePrefix + key],
                                      arguments: [token, milliseconds(ttl)])
        }
        if reply.isNull { return nil }
        do {
            return LockLease(key: key, ownerToken: token, fencingToken: UInt64(try reply.integer()), ttl: ttl)
        } catch {
            throw LockError(code: .backend, message: "redis: \(error)")
        }
    }

    private func checkOpen() throws(LockError) {
        if closed.load(ordering: .sequentiallyConsistent) { throw LockError.closed }
    }

    private func run<T>(_ body: () async throws(RedisError) -> T) async throws(LockError) -> T {
        try checkOpen()
        do {
            return try await body()
        } catch where error.code == .closed {
            throw LockError.closed
        } catch {
            throw LockError(code: .backend, message: "redis: \(error)")
        }
    }
}
