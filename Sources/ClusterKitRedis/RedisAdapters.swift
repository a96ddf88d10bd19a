import ClusterKit

extension AdapterRegistry {
    /// Registers the `redis` adapters (cache, lock, worker ID; later pub/sub and queue).
    public mutating func registerRedisAdapters() {
    }
}
