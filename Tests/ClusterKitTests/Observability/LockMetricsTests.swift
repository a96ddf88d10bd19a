import ClusterKit
import MetricsTestKit
import Testing

@Suite("Lock metrics")
struct LockMetricsTests {
    @Test func waitsContentionAndTimeouts() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let lockDimensions = dimensions(.lock)
        try await cluster.lock.withLock("report", ttl: .seconds(5)) { _ in }
        #expect(try metrics.expectTimer(ClusterMetricNames.lockAcquireWait, lockDimensions).values.count == 1)
        #expect(total(metrics, ClusterMetricNames.lockContended, lockDimensions) == 0)

        let held = try await cluster.lock.acquire("report", ttl: .seconds(5), timeout: .seconds(1))
        #expect(try await cluster.lock.tryAcquire("report", ttl: .seconds(5)) == nil)
        await #expect(throws: LockError.self) { try await cluster.lock.acquire("report", ttl: .seconds(5), timeout: .milliseconds(30)) }
        #expect(total(metrics, ClusterMetricNames.lockContended, lockDimensions) == 2)
        #expect(total(metrics, ClusterMetricNames.lockTimeouts, lockDimensions) == 1)

        // A contended acquire that gets the lock once it is freed: its wait is recorded.
        let waiter = Task { try await cluster.lock.acquire("report", ttl: .seconds(5), timeout: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        try await cluster.lock.release(held)
        let second = try await waiter.value
        let waits = try metrics.expectTimer(ClusterMetricNames.lockAcquireWait, lockDimensions).values
        #expect(waits.count == 3)
        #expect(waits.last.map { $0 >= 40_000_000 } == true, "the waiter waited about 50 ms: \(waits)")
        #expect(total(metrics, ClusterMetricNames.lockContended, lockDimensions) == 3)
        try await cluster.lock.release(second)
        await cluster.shutdown()
    }

    @Test func theWatchdogReportsALostLease() async throws {
        let metrics = TestMetrics()
        let lock = InstrumentedDistributedLock(ForgetfulLock(base: MemoryLock(backend: MemoryBackend(), appName: "obs")),
                                               adapter: "forgetful", observability: Observability(metricsFactory: metrics))
        await #expect(throws: LockError.self) {
            try await lock.withLock("job", ttl: .milliseconds(60)) { _ in try await Task.sleep(for: .seconds(2)) }
        }
        #expect(total(metrics, ClusterMetricNames.lockLeasesLost, dimensions(.lock, adapter: "forgetful")) == 1)
    }
}

/// A lock whose leases can never be extended, as if each expired right after it was taken.
private struct ForgetfulLock: DistributedLock {
    let base: any DistributedLock
    func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? { try await base.tryAcquire(key, ttl: ttl) }
    func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
        try await base.acquire(key, ttl: ttl, timeout: timeout)
    }
    func release(_ lease: LockLease) async throws -> Bool { try await base.release(lease) }
    func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool { false }
    func close() async { await base.close() }
}
