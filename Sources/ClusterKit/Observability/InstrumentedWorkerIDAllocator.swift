/// A ``WorkerIDAllocator`` that traces every operation and counts its errors, then does
/// what the wrapped allocator does. Renewals and losses are counted by ``WorkerIDLease``
/// (``WorkerIDLeaseMetrics``), which alone knows when a lease is lost without any call
/// failing (not renewed within its validity).
public struct InstrumentedWorkerIDAllocator: WorkerIDAllocator {
    /// The wrapped allocator.
    public let base: any WorkerIDAllocator
    private let scope: InstrumentationScope

    /// - Parameter adapter: the adapter's registered name, the `adapter` dimension.
    public init(_ base: any WorkerIDAllocator, adapter: String, observability: Observability = .init()) {
        self.base = base
        self.scope = InstrumentationScope(.workerID, adapter: adapter, observability: observability,
                                          errorsLabel: ClusterMetricNames.workerIDErrors)
    }

    public var range: ClosedRange<Int> { base.range }
    public var leaseTTL: Duration { base.leaseTTL }

    public func lease() async throws -> WorkerIDLeaseToken {
        try await scope.traced("lease") { try await base.lease() }
    }

    public func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool {
        try await scope.traced("renew") { try await base.renew(lease) }
    }

    public func release(_ lease: WorkerIDLeaseToken) async throws {
        try await scope.traced("release") { try await base.release(lease) }
    }

    public func checkHealth() async throws {
        try await scope.traced("checkHealth") { try await base.checkHealth() }
    }

    public func close() async {
        await base.close()
    }
}
