import Synchronization

/// The worker-ID leases of one app on one ``MemoryBackend``: what `app:workerid:<id>` keys
/// are on Redis. Every ``MemoryWorkerIDAllocator`` node of the app shares it.
///
/// Deadlines are instants of the nodes' clock, so all nodes of one backend must use the
/// same clock type (and, in tests, the same ``ManualClock`` instance).
final class MemoryWorkerIDPool<Instant: InstantProtocol & Sendable>: Sendable {
    struct Lease: Sendable {
        var token: String
        var expiresAt: Instant
    }

    enum Outcome {
        case leased(Int)
        case exhausted(liveLeases: Int)
    }

    private let leases = Mutex<[Int: Lease]>([:])

    /// The pool of `appName` on `backend`, created on first use.
    static func shared(in backend: MemoryBackend, appName: String) -> MemoryWorkerIDPool {
        backend.component("workerid:\(appName)") { MemoryWorkerIDPool() }
    }

    /// Takes the lowest ID of `range` that has no live lease (an expired lease counts as
    /// free) for `token` until `expiresAt`.
    func lease(in range: ClosedRange<Int>, token: String, now: Instant, expiresAt: Instant) -> Outcome {
        leases.withLock { leases in
            for id in range {
                if let existing = leases[id], existing.expiresAt > now { continue }
                leases[id] = Lease(token: token, expiresAt: expiresAt)
                return .leased(id)
            }
            let live = leases.count { range.contains($0.key) && $0.value.expiresAt > now }
            return .exhausted(liveLeases: live)
        }
    }

    /// Moves the deadline of `id` to `expiresAt` if `token` holds a live lease on it.
    func renew(_ id: Int, token: String, now: Instant, expiresAt: Instant) -> Bool {
        leases.withLock { leases in
            guard let existing = leases[id], existing.token == token, existing.expiresAt > now else { return false }
            leases[id] = Lease(token: token, expiresAt: expiresAt)
            return true
        }
    }

    /// Frees `id` if `token` holds it (live or expired); otherwise changes nothing.
    func release(_ id: Int, token: String) {
        leases.withLock { leases in
            if leases[id]?.token == token { leases[id] = nil }
        }
    }
}
