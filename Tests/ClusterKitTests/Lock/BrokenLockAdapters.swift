import ClusterKit
import ClusterKitConformance
import Synchronization

/// Deliberately broken locks wrapping ``MemoryLock``, each with one bug a real adapter could
/// have, to prove the conformance cases catch it.
enum BrokenLock: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Release frees whoever holds the key (a plain `DEL` without comparing the token).
    case releasesAnyone
    /// Every lease gets fencing token 1.
    case constantFencing
    /// The TTL is stretched a hundredfold: abandoned locks are not freed in time.
    case ignoresTTL
    /// A cancelled `acquire` returns at once but leaves its wait running, which later takes
    /// the lock for nobody.
    case leaksCancelledWaiters
    /// Every acquisition succeeds at once (each locks a key of its own): no exclusion at all.
    case noExclusion

    var description: String { rawValue }

    /// A target whose nodes share one memory backend.
    func target() -> ConformanceTarget<any DistributedLock> {
        let backend = MemoryBackend()
        let lastLeases = LastLeases()
        return ConformanceTarget(label: "broken-\(rawValue)") { options in
            let inner = MemoryLock(backend: backend, appName: options.appName, nodeID: options.nodeID)
            return BrokenLockAdapter(bug: self, inner: inner, appName: options.appName, lastLeases: lastLeases)
        }
    }
}

/// The lease handed out last per (app, key), shared by the nodes of a broken target.
final class LastLeases: Sendable {
    private let leases = Mutex<[String: LockLease]>([:])
    func record(_ lease: LockLease, app: String) { leases.withLock { $0["\(app)/\(lease.key)"] = lease } }
    func last(key: String, app: String) -> LockLease? { leases.withLock { $0["\(app)/\(key)"] } }
}

struct BrokenLockAdapter: DistributedLock {
    let bug: BrokenLock
    let inner: MemoryLock<ContinuousClock>
    let appName: String
    let lastLeases: LastLeases

    func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? {
        try await inner.tryAcquire(effective(key), ttl: effective(ttl)).map(handOut)
    }

    func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        if bug == .leaksCancelledWaiters {
            return handOut(try await acquireIgnoringCancellation(key, ttl: ttl, timeout: timeout))
        }
        return handOut(try await inner.acquire(effective(key), ttl: effective(ttl), timeout: timeout))
    }

    func release(_ lease: LockLease) async throws -> Bool {
        if bug == .releasesAnyone, let current = lastLeases.last(key: lease.key, app: appName) {
            return try await inner.release(current)
        }
        return try await inner.release(lease)
    }

    func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool {
        try await inner.extend(lease, ttl: effective(ttl))
    }

    func close() async { await inner.close() }

    private func effective(_ ttl: Duration) -> Duration { bug == .ignoresTTL ? ttl * 100 : ttl }

    private func effective(_ key: String) -> String {
        bug == .noExclusion ? "\(key)#\(UInt64.random(in: 0 ... .max))" : key
    }

    private func handOut(_ lease: LockLease) -> LockLease {
        lastLeases.record(lease, app: appName)
        guard bug == .constantFencing else { return lease }
        // The memory lock identifies owners by token only, so the altered lease still works.
        return LockLease(key: lease.key, ownerToken: lease.ownerToken, fencingToken: 1, ttl: lease.ttl)
    }

    /// Waits in an unstructured task that the caller's cancellation does not reach; the
    /// caller is let go on cancellation while the wait goes on.
    private func acquireIgnoringCancellation(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        let pending = PendingAcquire()
        let inner = self.inner
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LockLease, any Error>) in
                pending.wait(continuation)
                Task {
                    do { pending.finish(.success(try await inner.acquire(key, ttl: ttl, timeout: timeout))) } catch { pending.finish(.failure(error)) }
                }
            }
        } onCancel: {
            pending.finish(.failure(CancellationError()))
        }
    }
}

/// The caller's side of an acquire that runs on without it: resumed once, by the result or
/// by cancellation, whichever comes first.
final class PendingAcquire: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<LockLease, any Error>?, early: Result<LockLease, any Error>?)>((nil, nil))

    func wait(_ continuation: CheckedContinuation<LockLease, any Error>) {
        let early = state.withLock { state in
            if state.early == nil { state.continuation = continuation }
            return state.early
        }
        if let early { continuation.resume(with: early) }
    }

    func finish(_ result: Result<LockLease, any Error>) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            if state.continuation == nil, state.early == nil { state.early = result }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
}
