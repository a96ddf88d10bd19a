import CoreMetrics

/// A ``DistributedLock`` that reports acquisition wait times, contention, timeouts and lost
/// leases, and traces every operation, then does what the wrapped lock does.
///
/// ``acquire(_:ttl:timeout:)`` first tries once without waiting (``tryAcquire(_:ttl:)``):
/// when that fails the acquisition counts as contended and the wrapped `acquire` waits for
/// the rest of the timeout. An uncontended acquisition costs the same single call as
/// before; a contended one costs one extra attempt before it waits.
///
/// Lost leases are counted where they are detected: an ``extend(_:ttl:)`` that returns
/// `false`, which is how the `withLock` watchdog (running on this decorator) learns it.
/// A lock has no `name` dimension: keys are often per-entity.
public struct InstrumentedDistributedLock: DistributedLock {
    /// The wrapped lock.
    public let base: any DistributedLock
    private let scope: InstrumentationScope
    private let acquireWait: Timer
    private let contended: Counter
    private let timeouts: Counter
    private let leasesLost: Counter

    /// - Parameter adapter: the adapter's registered name, the `adapter` dimension.
    public init(_ base: any DistributedLock, adapter: String, observability: Observability = .init()) {
        self.base = base
        let scope = InstrumentationScope(.lock, adapter: adapter, observability: observability,
                                         errorsLabel: ClusterMetricNames.lockErrors)
        self.scope = scope
        self.acquireWait = scope.timer(ClusterMetricNames.lockAcquireWait)
        self.contended = scope.counter(ClusterMetricNames.lockContended)
        self.timeouts = scope.counter(ClusterMetricNames.lockTimeouts)
        self.leasesLost = scope.counter(ClusterMetricNames.lockLeasesLost)
    }

    public func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? {
        try await scope.traced("tryAcquire") {
            let clock = ContinuousClock()
            let start = clock.now
            guard let lease = try await base.tryAcquire(key, ttl: ttl) else {
                contended.increment()
                return nil
            }
            acquireWait.recordNanoseconds((clock.now - start).nanosecondsForMetrics)
            return lease
        }
    }

    public func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        try await scope.traced("acquire") {
            let clock = ContinuousClock()
            let start = clock.now
            if let lease = try await base.tryAcquire(key, ttl: ttl) {
                acquireWait.recordNanoseconds((clock.now - start).nanosecondsForMetrics)
                return lease
            }
            contended.increment()
            do {
                let remaining = max(.zero, timeout - (clock.now - start))
                let lease = try await base.acquire(key, ttl: ttl, timeout: remaining)
                acquireWait.recordNanoseconds((clock.now - start).nanosecondsForMetrics)
                return lease
            } catch let error as LockError where error.code == .timedOut {
                timeouts.increment()
                // Name the caller's timeout, not the remainder the wrapped lock was given.
                throw LockError.timedOut(key: key, after: timeout)
            }
        }
    }

    @discardableResult
    public func release(_ lease: LockLease) async throws -> Bool {
        try await scope.traced("release") { try await base.release(lease) }
    }

    public func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool {
        try await scope.traced("extend") {
            let extended = try await base.extend(lease, ttl: ttl)
            if !extended { leasesLost.increment() }
            return extended
        }
    }

    public func checkHealth() async throws {
        try await scope.traced("checkHealth") { try await base.checkHealth() }
    }

    public func close() async {
        await base.close()
    }
}
