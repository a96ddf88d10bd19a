import ClusterKit

/// A counter in the shared cache, incremented by read-modify-write under the distributed
/// lock — deliberately not with `Cache.increment`, to show the lock making a non-atomic
/// update exact across instances.
///
/// The lease's fencing token is returned with the value. The cache has no compare-and-set,
/// so the example cannot make the store itself reject a stale holder (a holder paused past
/// the lock's TTL); a real database would, with `UPDATE … WHERE fence < $token`.
struct Counter: Sendable {
    let cluster: Cluster
    private let cache: Cache
    static let key = "value"
    static let lockKey = "counter"

    init(cluster: Cluster) throws {
        self.cluster = cluster
        self.cache = try cluster.cache("counter")
    }

    /// The current value (0 before the first increment).
    func value() async throws -> Int64 {
        try await cache.get(Self.key, as: Int64.self) ?? 0
    }

    /// Adds one under the lock; returns the new value and the lease's fencing token.
    func increment() async throws -> (value: Int64, fencingToken: UInt64) {
        let cache = self.cache
        return try await cluster.lock.withLock(Self.lockKey, ttl: .seconds(10), timeout: .seconds(30)) { lease in
            let next = (try await cache.get(Self.key, as: Int64.self) ?? 0) + 1
            try await cache.set(Self.key, next)
            return (next, lease.fencingToken)
        }
    }
}
