import ClusterKit
import ClusterKitRedis
import ClusterKitRedisTesting
import Logging
import MetricsTestKit
import Synchronization
import Testing

@Suite("Redis reconnect metrics", .serialized)
struct RedisReconnectMetricsTests {
    /// A cluster whose cache is on Redis counts its connection's reconnect after a server
    /// restart under `clusterkit_connection_reconnects{primitive=cache, adapter=redis}`, in
    /// the factory its `Observability` names (no global bootstrap). The loss and the
    /// recovery are logged once each, with the node's metadata, and never with the password.
    @Test func aServerRestartCountsOneReconnectPerConnection() async throws {
        let password = "pw-\(UInt64.random(in: 0 ... .max))"
        let server = try await RedisServer.start(.init(password: password))
        defer { Task { await server.stop() } }
        let metrics = TestMetrics()
        let lines = LogLines()
        let logger = Logger(label: "reconnect-test") { _ in LineLogHandler(lines: lines) }
        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        let configuration = try ClusterConfiguration(values: [
            "APP_NAME": "reconnects", "CACHE_DEFAULT_STORE": "redis",
            "REDIS_URL": server.url(password: password, query: "pool_size=1"),
        ])
        let cluster = try await Cluster(configuration: configuration, registry: registry,
                                        options: .init(observability: Observability(metricsFactory: metrics)), logger: logger)
        let cache = try cluster.cache("users")
        try await cache.set("a", "Ada")
        let reconnects = [("primitive", "cache"), ("adapter", "redis")]
        #expect(metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) == 0,
                "the first connect is not a reconnect")

        try await server.kill()
        try await server.restart()
        let value = try await eventuallySucceeds { try await cache.get("a", as: String.self) }
        #expect(value == nil, "the server restarted without persistence")
        #expect(metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) == 1)
        // The failed commands while it was down are cache errors, counted per operation.
        #expect(metrics.counterTotal(label: ClusterMetricNames.cacheErrors) >= 1)
        await cluster.shutdown()

        let logged = lines.all
        #expect(!logged.isEmpty)
        #expect(logged.allSatisfy { !$0.contains(password) }, "a log line shows the password: \(logged)")
        let lost = logged.filter { $0.contains("redis connection lost") }
        let recovered = logged.filter { $0.contains("redis connection re-established") }
        #expect(lost.count == 1, "\(logged)")
        #expect(recovered.count == 1, "\(logged)")
        for line in lost + recovered {
            for expected in ["primitive=cache", "adapter=redis", "node=", "worker=0"] {
                #expect(line.contains(expected), "\(line) lacks \(expected)")
            }
        }
    }
}

/// Every log line, as `message key=value …` (metadata sorted, rendered as a handler would).
private final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

private struct LineLogHandler: LogHandler {
    let lines: LogLines
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.add("\(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
