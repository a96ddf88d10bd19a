import ClusterKit
import MetricsTestKit
import Synchronization
import Testing

@Suite("Worker-ID lease metrics")
struct WorkerIDMetricsTests {
    @Test func renewalsAndLossesAreCounted() async throws {
        let metrics = TestMetrics()
        let allocator = RefusingAllocator(base: MemoryWorkerIDAllocator(backend: MemoryBackend(), appName: "obs",
                                                                        configuration: .init(leaseTTL: .milliseconds(90))))
        let lease = WorkerIDLease(allocator: allocator,
                                  metrics: WorkerIDLeaseMetrics(adapter: "memory", observability: Observability(metricsFactory: metrics)))
        _ = try await lease.acquire()
        let maintenance = Task { try await lease.maintain() }
        let workerID = dimensions(.workerID)
        #expect(await eventually { total(metrics, ClusterMetricNames.workerIDRenewals, workerID) >= 2 })
        #expect(total(metrics, ClusterMetricNames.workerIDLosses, workerID) == 0)
        allocator.refuse()
        #expect(await eventually { total(metrics, ClusterMetricNames.workerIDLosses, workerID) >= 1 })
        maintenance.cancel()
        _ = try? await maintenance.value
        await lease.release()
    }
}

/// A memory allocator whose renewals can be made to report the lease lost.
private final class RefusingAllocator: WorkerIDAllocator {
    let base: MemoryWorkerIDAllocator<ContinuousClock>
    private let refusing = Mutex(false)
    init(base: MemoryWorkerIDAllocator<ContinuousClock>) { self.base = base }
    var range: ClosedRange<Int> { base.range }
    var leaseTTL: Duration { base.leaseTTL }
    func refuse() { refusing.withLock { $0 = true } }
    func lease() async throws -> WorkerIDLeaseToken { try await base.lease() }
    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool {
        if refusing.withLock({ $0 }) { return false }
        return try await base.renew(lease)
    }
    func release(_ lease: WorkerIDLeaseToken) async throws { try await base.release(lease) }
    func close() async { await base.close() }
}
