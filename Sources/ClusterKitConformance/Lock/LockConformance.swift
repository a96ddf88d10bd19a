import ClusterKit
import Synchronization

/// The conformance suite every ``DistributedLock`` adapter passes.
///
/// Cases use only the ``DistributedLock`` protocol (and ``DistributedLock/withLock(_:ttl:timeout:_:)``
/// built on it), create their nodes with the context (several nodes = several adapter
/// instances on one backend, which must contend for the same locks) and use their own
/// `APP_NAME`, so they can run against a shared Redis server. TTL cases use real time with
/// TTLs of a few hundred milliseconds and tolerances, never exact timing.
public enum LockConformance {
    /// Optional behaviour an adapter may declare. Every lock case applies to every adapter.
    public static let capabilities: [String: String] = [:]

    public static let suite = ConformanceSuite<any DistributedLock>(
        primitive: .lock,
        capabilities: capabilities,
        cases: ownershipCases + expiryCases + withLockCases + fencingCases + waitingCases + keyCases
    )
}

typealias LockCase = ConformanceCase<any DistributedLock>

/// Shared helpers of the lock cases.
enum LockCheck {
    /// A TTL no case outlives: locks that must not expire during a case use it.
    static let longTTL: Duration = .seconds(30)
    /// A TTL short enough to wait out, long enough to act on the lock over a network.
    static let shortTTL: Duration = .milliseconds(400)
    /// How long cases wait at most for something that should happen "soon" (a short TTL to
    /// run out, a woken waiter to return).
    static let soon: Duration = .seconds(3)

    /// Fails unless `observer` finds `key` held: its `tryAcquire` must get nothing. A lease it
    /// does get is released before failing.
    static func expectHeld(_ key: String, observer: any DistributedLock, _ what: String) async throws {
        if let lease = try await observer.tryAcquire(key, ttl: longTTL) {
            _ = try? await observer.release(lease)
            throw ConformanceFailure("\(what): expected '\(key)' to be held, but another owner could take it (\(lease))")
        }
    }

    /// Fails unless `observer` can take `key` at once; returns the lease it took.
    @discardableResult
    static func expectFree(_ key: String, observer: any DistributedLock, ttl: Duration = longTTL,
                           _ what: String) async throws -> LockLease {
        guard let lease = try await observer.tryAcquire(key, ttl: ttl) else {
            throw ConformanceFailure("\(what): expected '\(key)' to be free, but tryAcquire got nothing")
        }
        return lease
    }

    /// Polls `observer.tryAcquire` until it gets the lock; fails after `timeout`.
    static func waitUntilFree(_ key: String, observer: any DistributedLock, ttl: Duration = longTTL,
                              timeout: Duration = soon, _ what: String) async throws -> LockLease {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let lease = try await observer.tryAcquire(key, ttl: ttl) { return lease }
            if clock.now >= deadline {
                throw ConformanceFailure("\(what): '\(key)' was still held \(timeout) later")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A lease for the same key and fencing token as `lease` but another owner token: what
    /// a node that does not hold the lock might present.
    static func forged(_ lease: LockLease) -> LockLease {
        LockLease(key: lease.key, ownerToken: "not-" + lease.ownerToken, fencingToken: lease.fencingToken, ttl: lease.ttl)
    }

    static func describe(_ result: Result<LockLease, any Error>) -> String {
        switch result {
        case .success(let lease): "got \(lease)"
        case .failure(let error): "threw \(error)"
        }
    }
}

/// Counts how many tasks are inside a critical section at once, and the most ever seen.
final class Occupancy: Sendable {
    private let state = Mutex((current: 0, maximum: 0))

    func enter() {
        state.withLock { state in
            state.current += 1
            state.maximum = max(state.maximum, state.current)
        }
    }

    func leave() { state.withLock { $0.current -= 1 } }

    var maximum: Int { state.withLock { $0.maximum } }
}

/// A value read and written in separate steps (never atomically), so that only a working
/// lock keeps concurrent increments from being lost.
final class UnprotectedCounter: Sendable {
    private let value = Mutex(0)

    func read() -> Int { value.withLock { $0 } }
    func write(_ newValue: Int) { value.withLock { $0 = newValue } }
}
