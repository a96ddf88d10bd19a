import ClusterKit
import ClusterKitRedis

extension HotPath {
    /// `redis-cache-get`: the `redis cache get, 1 task` bench row in miniature — one task
    /// calling `RedisCacheStore.get` of one 3-byte value `iterations` times, one after
    /// another, from the cooperative pool (the thread hand-offs per command included).
    /// Counts this process only, not the private `redis-server` it starts.
    static let redisCacheGet = HotPath(name: "redis-cache-get") { iterations in
        let server = try await PlainRedisServer.start()
        defer { server.stop() }
        return try await sequentialCacheGets(url: server.url, iterations: iterations, affinity: false)
    }

    /// The server paths for `perf stat` against a server started separately (so the
    /// server's own work stays out of the counts): the same loop plain and inside
    /// `withConnectionAffinity`.
    static let redisCacheGetServerPaths = [
        ServerHotPath(name: "redis-cache-get") { url, iterations in
            try await sequentialCacheGets(url: url, iterations: iterations, affinity: false)
        },
        ServerHotPath(name: "redis-cache-get-affinity") { url, iterations in
            try await sequentialCacheGets(url: url, iterations: iterations, affinity: true)
        },
    ]

    /// `iterations` sequential `get`s of one key; returns how many found it.
    private static func sequentialCacheGets(url: String, iterations: Int, affinity: Bool) async throws -> Int {
        let store = RedisCacheStore(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)), appName: "hot")
        // A stored name, as the bench's: a literal would build (and validate) a CacheName per call.
        let cache: CacheName = "bench"
        try await store.set(cache, "key", Array("xxx".utf8), ttl: nil)
        @Sendable func loop() async throws -> Int {
            var found = 0
            for _ in 0..<iterations where try await store.get(cache, "key") != nil { found += 1 }
            return found
        }
        let found = affinity ? try await store.withConnectionAffinity { try await loop() } : try await loop()
        await store.close()
        return found
    }
}
