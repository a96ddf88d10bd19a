/// What every adapter of every primitive can do besides its own operations.
public protocol ClusterAdapter: Sendable {
    /// Proves the backend is usable (connected, authenticated) by a cheap round trip.
    /// Memory adapters are always healthy. Used by `clusterkit doctor`.
    func checkHealth() async throws

    /// Releases what this adapter holds (connections, subscriptions, timers). Idempotent.
    /// After `close()` operations fail with the primitive's `closed` error.
    func close() async
}

extension ClusterAdapter {
    public func checkHealth() async throws {}
}
