import ClusterKit

/// The conformance suite every ``WorkerIDAllocator`` adapter must pass.
///
/// ## What a target must provide
/// - Every node the target creates for one app name draws from one pool (one backend).
/// - Nodes must have a **short lease TTL**: at most ``maximumLeaseTTL`` (2 s), ideally
///   300 ms – 1 s. The suite cannot change the TTL, and its expiry and renewal cases wait a
///   few TTLs (read from `node.leaseTTL`); a longer TTL fails those cases at once.
/// - A small ``WorkerIDAllocator/range`` (the default `0...31` is right): the exhaustion
///   case leases every ID of it (at most ``maximumRangeSize``).
///
/// The snowflake cases run ``SnowflakeGenerator`` over IDs leased from the adapter under
/// test; those about sequence overflow and clocks going backwards drive the generator with
/// a virtual clock, so they take no real time.
public enum WorkerIDConformance {
    /// The longest lease TTL a target's nodes may have.
    public static let maximumLeaseTTL: Duration = .seconds(2)
    /// The largest range a target's nodes may have.
    public static let maximumRangeSize = 1024

    /// No optional capabilities: every case applies to every adapter.
    public static let capabilities: [String: String] = [:]

    public static let suite = ConformanceSuite<any WorkerIDAllocator>(
        primitive: .workerID,
        capabilities: capabilities,
        cases: allocationCases + leaseCases + snowflakeCases
    )
}

// MARK: - Shared helpers

extension WorkerIDConformance {
    /// Fails unless `node` has a TTL short enough for the timed cases; returns it.
    static func shortTTL(of node: any WorkerIDAllocator) throws(ConformanceFailure) -> Duration {
        let ttl = node.leaseTTL
        try check(ttl > .zero && ttl <= maximumLeaseTTL,
                  "the conformance target must create nodes with a lease TTL of at most \(maximumLeaseTTL) (ideally 300 ms – 1 s); got \(ttl)")
        return ttl
    }

    /// Long enough after a lease was last taken or renewed for it to have expired
    /// everywhere: the TTL plus half of it (at least 100 ms) for backend expiry granularity.
    static func expiryWait(_ ttl: Duration) -> Duration {
        ttl + max(ttl / 2, .milliseconds(100))
    }

    static func lease(_ node: any WorkerIDAllocator, _ what: String) async throws -> WorkerIDLeaseToken {
        do {
            return try await node.lease()
        } catch {
            throw ConformanceFailure("\(what): lease() failed: \(error)")
        }
    }

    static func checkInRange(_ token: WorkerIDLeaseToken, _ node: any WorkerIDAllocator, _ what: String) throws(ConformanceFailure) {
        try check(node.range.contains(token.workerID), "\(what): leased ID \(token.workerID) is outside the range \(node.range)")
    }
}
