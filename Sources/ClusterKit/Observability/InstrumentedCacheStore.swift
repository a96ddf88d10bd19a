import CoreMetrics

/// A ``CacheStore`` that reports hits, misses and errors per cache name and traces every
/// operation, then does exactly what the wrapped store does.
///
/// Hits and misses count `get` and `getMany` lookups, one per key; `has` is an existence
/// check and counts neither.
public struct InstrumentedCacheStore: CacheStore {
    /// The wrapped store.
    public let base: any CacheStore
    private let scope: InstrumentationScope
    private let metrics: MetricsByName<CacheMetrics>

    struct CacheMetrics: Sendable {
        let hits: Counter
        let misses: Counter
    }

    /// - Parameter adapter: the adapter's registered name, the `adapter` dimension.
    public init(_ base: any CacheStore, adapter: String, observability: Observability = .init()) {
        self.base = base
        let scope = InstrumentationScope(.cache, adapter: adapter, observability: observability,
                                         errorsLabel: ClusterMetricNames.cacheErrors)
        self.scope = scope
        self.metrics = MetricsByName { name in
            CacheMetrics(hits: scope.counter(ClusterMetricNames.cacheHits, name: name),
                         misses: scope.counter(ClusterMetricNames.cacheMisses, name: name))
        }
    }

    public func get(_ cache: CacheName, _ key: String) async throws -> [UInt8]? {
        try await scope.traced("get", name: cache.rawValue) {
            let value = try await base.get(cache, key)
            let metrics = self.metrics[cache.rawValue]
            if value == nil { metrics.misses.increment() } else { metrics.hits.increment() }
            return value
        }
    }

    public func set(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws {
        try await scope.traced("set", name: cache.rawValue) { try await base.set(cache, key, value, ttl: ttl) }
    }

    public func add(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws -> Bool {
        try await scope.traced("add", name: cache.rawValue) { try await base.add(cache, key, value, ttl: ttl) }
    }

    @discardableResult
    public func delete(_ cache: CacheName, _ key: String) async throws -> Bool {
        try await scope.traced("delete", name: cache.rawValue) { try await base.delete(cache, key) }
    }

    public func has(_ cache: CacheName, _ key: String) async throws -> Bool {
        try await scope.traced("has", name: cache.rawValue) { try await base.has(cache, key) }
    }

    public func getMany(_ cache: CacheName, _ keys: [String]) async throws -> [[UInt8]?] {
        try await scope.traced("getMany", name: cache.rawValue) {
            let values = try await base.getMany(cache, keys)
            let found = values.reduce(0) { $1 == nil ? $0 : $0 + 1 }
            let metrics = self.metrics[cache.rawValue]
            if found > 0 { metrics.hits.increment(by: found) }
            if values.count > found { metrics.misses.increment(by: values.count - found) }
            return values
        }
    }

    public func setMany(_ cache: CacheName, _ entries: [(key: String, value: [UInt8])], ttl: Duration?) async throws {
        try await scope.traced("setMany", name: cache.rawValue) { try await base.setMany(cache, entries, ttl: ttl) }
    }

    @discardableResult
    public func deleteMany(_ cache: CacheName, _ keys: [String]) async throws -> Int {
        try await scope.traced("deleteMany", name: cache.rawValue) { try await base.deleteMany(cache, keys) }
    }

    public func increment(_ cache: CacheName, _ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        try await scope.traced("increment", name: cache.rawValue) { try await base.increment(cache, key, by: delta, ttl: ttl) }
    }

    public func timeToLive(_ cache: CacheName, _ key: String) async throws -> CacheTTL {
        try await scope.traced("timeToLive", name: cache.rawValue) { try await base.timeToLive(cache, key) }
    }

    @discardableResult
    public func touch(_ cache: CacheName, _ key: String, ttl: Duration?) async throws -> Bool {
        try await scope.traced("touch", name: cache.rawValue) { try await base.touch(cache, key, ttl: ttl) }
    }

    public func clear(_ cache: CacheName) async throws {
        try await scope.traced("clear", name: cache.rawValue) { try await base.clear(cache) }
    }

    public func checkHealth() async throws {
        try await scope.traced("checkHealth") { try await base.checkHealth() }
    }

    public func close() async {
        await base.close()
    }
}
