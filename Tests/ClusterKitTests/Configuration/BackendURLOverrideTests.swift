import ClusterKit
import Testing

@Suite("--url overrides (clusterkit conformance --url)")
struct BackendURLOverrideTests {
    /// Memory adapters plus stand-ins for a Redis backend (all five) and a RabbitMQ queue.
    static var registry: AdapterRegistry {
        var registry = AdapterRegistry.builtIn
        let redis = AdapterRegistry.Registration(name: "redis", urlName: "redis", isNetworked: true)
        registry.registerCache(redis) { _ in throw CacheError.closed }
        registry.registerPubSub(redis) { _ in throw PubSubError.closed }
        registry.registerQueue(redis) { _ in throw QueueError.closed }
        registry.registerLock(redis) { _ in throw LockError.closed }
        registry.registerWorkerID(redis) { _ in throw WorkerIDError.closed }
        registry.registerQueue(.init(name: "rabbitmq", urlName: "rabbitmq", isNetworked: true)) { _ in throw QueueError.closed }
        return registry
    }

    @Test("a redis:// URL selects redis for the requested primitives and sets their URL variables")
    func redisURL() throws {
        let url = "redis://127.0.0.1:6390/2"
        let variables = try BackendURLOverride.variables(for: [url], primitives: [.cache, .lock], registry: Self.registry)
        #expect(variables == [
            "CACHE_DEFAULT_STORE": "redis", "CACHE_REDIS_URL": url, "REDIS_URL": url,
            "LOCK_ADAPTER_DEFAULT": "redis", "LOCK_ADAPTER_REDIS_URL": url,
        ])
        // The override beats a primitive URL set in the environment.
        let configuration = try ClusterConfiguration(values: ["CACHE_REDIS_URL": "redis://elsewhere:1/0"].merging(variables) { $1 })
        let resolved = try configuration.resolve(.cache, in: Self.registry)
        #expect(resolved.name == "redis")
        #expect(resolved.url?.secretText == url)
    }

    @Test("an amqp:// URL serves only the queue; a later URL wins where both serve")
    func amqpAfterRedis() throws {
        let redis = "redis://localhost:6379/0"
        let amqp = "amqp://guest:guest@localhost:5672/%2f"
        let variables = try BackendURLOverride.variables(for: [redis, amqp], primitives: Primitive.allCases, registry: Self.registry)
        #expect(variables["QUEUE_ADAPTER"] == "rabbitmq")
        #expect(variables["QUEUE_ADAPTER_RABBITMQ_URL"] == amqp)
        #expect(variables["CACHE_DEFAULT_STORE"] == "redis")
        #expect(variables["WORKER_ID_ADAPTER"] == "redis")
    }

    @Test("unsupported schemes, malformed URLs and URLs no requested primitive uses are errors without the password", arguments: [
        "http://user:s3cret@host/", "redis://:s3cret@host:notaport/0", "amqp://u:s3cret@host:5672/%2f",
    ])
    func rejected(_ url: String) {
        let error = #expect(throws: ConfigurationError.self) {
            // The memory-only registry has no adapter for any URL.
            try BackendURLOverride.variables(for: [url], primitives: [.cache], registry: url.hasPrefix("amqp") ? Self.registry : .builtIn)
        }
        #expect(error?.message.contains("s3cret") == false, "\(error?.message ?? "")")
        #expect(error?.message.contains("--url") == true, "\(error?.message ?? "")")
    }

    @Test("no URLs, no overrides")
    func none() throws {
        #expect(try BackendURLOverride.variables(for: [], primitives: Primitive.allCases, registry: Self.registry).isEmpty)
    }
}
