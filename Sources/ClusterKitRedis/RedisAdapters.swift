import ClusterKit

extension AdapterRegistry {
    /// Registers the `redis` adapters: ``RedisCacheStore`` (`CACHE_DEFAULT_STORE=redis`),
    /// ``RedisLock`` (`LOCK_ADAPTER_DEFAULT=redis`) and ``RedisWorkerIDAllocator``
    /// (`WORKER_ID_ADAPTER=redis`), ``RedisMessageQueue`` (`QUEUE_ADAPTER=redis`, capability
    /// `durable`) and ``RedisPubSub`` (`PUBSUB_ADAPTER=redis`, capability `durable`).
    ///
    /// Each built adapter is one node with its own connection pool to the URL the
    /// configuration resolves (`CACHE_REDIS_URL` → `REDIS_URL` → `redis://localhost:6379/0`,
    /// and likewise per primitive). Building fails with a ``RedisError`` when the server
    /// is unreachable or refuses the credentials.
    public mutating func registerRedisAdapters() {
        func registration() -> Registration {
            Registration(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true)
        }
        registerCache(registration()) { context in try await RedisCacheStore(context: context) }
        registerLock(registration()) { context in try await RedisLock(context: context) }
        registerWorkerID(registration()) { context in try await RedisWorkerIDAllocator(context: context) }
        registerQueue(Registration(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true,
                                   capabilities: ["durable"])) { context in try await RedisMessageQueue(context: context) }
        registerPubSub(Registration(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true,
                                    capabilities: ["durable"])) { context in try await RedisPubSub(context: context) }
    }
}
