import ClusterKit
import ClusterKitConformance
import Synchronization
import Testing

/// Hands every node worker ID 0, like an allocator that ignores the others (NocoBase's
/// random default collides the same way).
struct AlwaysZeroWorkerIDAllocator: WorkerIDAllocator {
    let range: ClosedRange<Int> = 0...31
    let leaseTTL: Duration = .milliseconds(400)
    func lease() async throws -> WorkerIDLeaseToken {
        WorkerIDLeaseToken(workerID: 0, token: String(UInt64.random(in: 0 ... .max)))
    }
    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool { true }
    func release(_ lease: WorkerIDLeaseToken) async throws {}
    func close() async {}
}

/// Renewal says yes without looking: expired and stolen leases "renew", and nothing is
/// extended.
struct BlindRenewWorkerIDAllocator: WorkerIDAllocator {
    let inner: any WorkerIDAllocator
    var range: ClosedRange<Int> { inner.range }
    var leaseTTL: Duration { inner.leaseTTL }
    func lease() async throws -> WorkerIDLeaseToken { try await inner.lease() }
    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool { true }
    func release(_ lease: WorkerIDLeaseToken) async throws { try await inner.release(lease) }
    func close() async { await inner.close() }
}

/// Release frees the ID whoever holds it: it releases the latest lease on that ID that any
/// node of the target handed out.
struct ReleaseByIDWorkerIDAllocator: WorkerIDAllocator {
    final class LatestTokens: Sendable {
        let tokens = Mutex<[Int: WorkerIDLeaseToken]>([:])
    }
    let inner: any WorkerIDAllocator
    let latest: LatestTokens
    var range: ClosedRange<Int> { inner.range }
    var leaseTTL: Duration { inner.leaseTTL }
    func lease() async throws -> WorkerIDLeaseToken {
        let token = try await inner.lease()
        latest.tokens.withLock { $0[token.workerID] = token }
        return token
    }
    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool { try await inner.renew(lease) }
    func release(_ lease: WorkerIDLeaseToken) async throws {
        let current = latest.tokens.withLock { $0[lease.workerID] } ?? lease
        try await inner.release(current)
    }
    func close() async { await inner.close() }
}

@Suite("Worker-ID conformance: broken adapters are caught")
struct BrokenWorkerIDAllocatorTests {
    private static func run(_ caseName: String, _ makeNode: @escaping @Sendable (MemoryWorkerIDAllocator<ContinuousClock>) -> any WorkerIDAllocator) async -> ConformanceResult {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any WorkerIDAllocator>(label: "broken") { options in
            makeNode(MemoryWorkerIDAllocator(backend: backend, appName: options.appName, nodeID: options.nodeID,
                                             configuration: .init(leaseTTL: .milliseconds(400))))
        }
        return await WorkerIDConformance.suite.run(caseNamed: caseName, against: target)
    }

    @Test(arguments: ["workerid.distinct-concurrent", "workerid.exhaustion", "workerid.snowflake-distinct-across-nodes"])
    func alwaysZeroIsCaught(_ caseName: String) async {
        expectFailed(await Self.run(caseName) { _ in AlwaysZeroWorkerIDAllocator() })
    }

    @Test(arguments: ["workerid.renew-after-expiry-fails", "workerid.expiry-frees-id", "workerid.renewal-keeps-id"])
    func blindRenewalIsCaught(_ caseName: String) async {
        expectFailed(await Self.run(caseName) { BlindRenewWorkerIDAllocator(inner: $0) })
    }

    @Test func releasingAnotherNodesLeaseIsCaught() async {
        let latest = ReleaseByIDWorkerIDAllocator.LatestTokens()
        expectFailed(await Self.run("workerid.release-idempotent") { ReleaseByIDWorkerIDAllocator(inner: $0, latest: latest) })
    }
}
