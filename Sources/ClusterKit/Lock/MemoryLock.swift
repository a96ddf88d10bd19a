import Synchronization

/// A ``DistributedLock`` held in process memory: every node built from one
/// ``MemoryBackend`` contends for the same locks, like processes sharing one Redis.
///
/// ## Semantics
/// - Keys are namespaced by app name; nodes of different apps never see each other's locks.
/// - Fair: a lock freed by release or by expiry goes to the caller that has waited longest
///   in ``acquire(_:ttl:timeout:)``; ``tryAcquire(_:ttl:)`` never takes a lock that callers
///   are waiting for.
/// - TTL: a lock is held from acquisition until `ttl` later on the injected clock (or
///   until ``extend(_:ttl:)`` moves it); at that instant it is free, and a waiter whose
///   holder expires is woken at exactly that instant.
/// - Fencing tokens come from one counter per backend, so they strictly increase per key
///   (and are unique across keys) and survive the key being freed.
/// - Memory: a key is tracked only while somebody holds it or waits for it. Released keys
///   are forgotten at once; keys whose holder expired are forgotten when touched again or by
///   a sweep that runs after as many operations as there are tracked keys.
/// - Cancelling a waiting ``acquire(_:ttl:timeout:)`` withdraws it at once; if the lock had
///   just been handed to it, it is released again, so nothing is left behind.
/// - ``close()``: waiting calls of this node fail with ``LockError/closed`` and every later
///   call on this node throws ``LockError/closed``. Locks this node holds are NOT released:
///   they stay held until their TTL, as they would on Redis when a process goes away, and
///   other nodes can take them after that.
public final class MemoryLock<C: Clock>: DistributedLock where C.Duration == Duration {
    /// Options of the memory lock. There are none yet: locks have no capacity limit, and
    /// expired holders are removed without a timer. The type keeps the initialiser shaped
    /// like the other memory adapters' so options can be added without breaking callers.
    public struct Configuration: Sendable {
        public init() {}
    }

    /// How much the shared table currently stores, across all apps and nodes of the backend.
    public struct Statistics: Sendable, Hashable {
        /// Keys with a holder or a waiter. Zero once nobody holds or waits for any lock
        /// (an expired holder counts until it is swept).
        public var keys: Int
        /// Keys with a holder (including expired holders not swept yet).
        public var holders: Int
        /// Calls waiting in `acquire`.
        public var waiters: Int

        public init(keys: Int, holders: Int, waiters: Int) {
            self.keys = keys
            self.holders = holders
            self.waiters = waiters
        }
    }

    public let appName: String
    public let nodeID: NodeID
    public let configuration: Configuration
    private let clock: C
    private let state: MemoryLockState<C.Instant>
    private let prefix: String
    /// This node's number in the shared table (to fail its waiters on close).
    private let node: UInt64
    /// Set before the table is swept on close and read under the table's mutex, so no
    /// waiter can slip in after the sweep.
    private let closed = Atomic<Bool>(false)

    /// A node on `backend` in the namespace `appName`. Every node of one backend must use
    /// the same clock.
    public init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(),
                configuration: Configuration = .init(), clock: C) {
        self.appName = appName
        self.nodeID = nodeID
        self.configuration = configuration
        self.clock = clock
        self.prefix = "\(appName):\(Primitive.lock.keyRole):"
        self.state = backend.component(MemoryLockState<C.Instant>.componentKey) { MemoryLockState<C.Instant>() }
        self.node = state.update { table, _ in table.registerNode() }
    }

    /// The shared table's current size (for diagnostics and tests).
    public var statistics: Statistics {
        state.update { table, _ in
            Statistics(keys: table.keyCount, holders: table.holderCount, waiters: table.waiterCount)
        }
    }

    // MARK: DistributedLock

    public func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? {
        try LockKeyRules.validate(key, ttl: ttl)
        let slot = slot(for: key)
        return try open { table, now, wakeups in
            table.tryTake(slot: slot, key: key, ttl: ttl, now: now, wakeups: &wakeups)
        }
    }

    public func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        try LockKeyRules.validate(key, ttl: ttl)
        try Task.checkCancellation()
        let slot = slot(for: key)
        let deadline = clock.now.advanced(by: timeout)
        let start = try open { table, now, wakeups -> AcquireStart in
            if let lease = table.tryTake(slot: slot, key: key, ttl: ttl, now: now, wakeups: &wakeups) {
                return .acquired(lease)
            }
            if now >= deadline { return .timedOut }
            return .waiting(table.enqueue(slot: slot, key: key, ttl: ttl, node: node))
        }
        switch start {
        case .acquired(let lease): return lease
        case .timedOut: throw LockError.timedOut(key: key, after: timeout)
        case .waiting(let id): return try await wait(id, key: key, deadline: deadline, timeout: timeout)
        }
    }

    @discardableResult
    public func release(_ lease: LockLease) async throws -> Bool {
        let slot = slot(for: lease.key)
        return try open { table, now, wakeups in
            table.release(slot: slot, lease: lease, now: now, wakeups: &wakeups)
        }
    }

    public func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool {
        if ttl <= .zero { throw LockError(code: .invalidTTL, message: "a lock TTL must be positive") }
        let slot = slot(for: lease.key)
        return try open { table, now, wakeups in
            table.extend(slot: slot, lease: lease, ttl: ttl, now: now, wakeups: &wakeups)
        }
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        state.update { table, wakeups in
            table.close(node: node, now: clock.now, wakeups: &wakeups)
        }
    }

    // MARK: Waiting

    /// Waits as queued waiter `id`: sleeps on the clock until the holder's expiry or the
    /// deadline (whichever is first) unless woken earlier by a hand-over, an earlier expiry,
    /// cancellation or close.
    private func wait(_ id: UInt64, key: String, deadline: C.Instant, timeout: Duration) async throws -> LockLease {
        try await withTaskCancellationHandler {
            while true {
                let step = state.update { table, wakeups in
                    table.step(waiter: id, deadline: deadline, now: clock.now, wakeups: &wakeups)
                }
                switch step {
                case .acquired(let lease): return lease
                case .cancelled: throw CancellationError()
                case .closed: throw LockError.closed
                case .timedOut: throw LockError.timedOut(key: key, after: timeout)
                case .sleep(let wakeAt): await sleep(waiter: id, until: wakeAt)
                }
            }
        } onCancel: {
            state.update { table, wakeups in
                table.cancel(waiter: id, now: clock.now, wakeups: &wakeups)
            }
        }
    }

    /// Suspends waiter `id` until it is signalled or `wakeAt` is reached on the clock.
    private func sleep(waiter id: UInt64, until wakeAt: C.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [clock, state] in
                do { try await clock.sleep(until: wakeAt, tolerance: nil) } catch { return }
                state.update { table, wakeups in table.signal(waiter: id, wakeups: &wakeups) }
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let suspended = state.update { table, _ in table.suspend(waiter: id, continuation) }
                if !suspended { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    // MARK: Helpers

    private func slot(for key: String) -> String { prefix + key }

    /// Runs `body` on the table with the current time, or throws ``LockError/closed`` when
    /// this node is closed (checked under the table's mutex).
    private func open<R>(_ body: (inout MemoryLockTable<C.Instant>, C.Instant, inout MemoryLockTable<C.Instant>.Wakeups) -> R) throws(LockError) -> R {
        let result: R? = state.update { table, wakeups in
            if closed.load(ordering: .sequentiallyConsistent) { return nil }
            return body(&table, clock.now, &wakeups)
        }
        guard let result else { throw LockError.closed }
        return result
    }
}

/// The outcome of the first, non-waiting attempt of `acquire`.
private enum AcquireStart {
    case acquired(LockLease)
    case waiting(UInt64)
    case timedOut
}

extension MemoryLock where C == ContinuousClock {
    /// A node on `backend` in the namespace `appName`, on the continuous clock.
    public convenience init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(),
                            configuration: Configuration = .init()) {
        self.init(backend: backend, appName: appName, nodeID: nodeID, configuration: configuration, clock: ContinuousClock())
    }

    /// The node the registry builds: the context's backend, app name and node ID.
    public convenience init(context: AdapterContext, configuration: Configuration = .init()) {
        self.init(backend: context.memory, appName: context.appName, nodeID: context.nodeID, configuration: configuration)
    }
}
