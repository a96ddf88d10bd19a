import CHiredis
import ClusterKit
import ClusterKitRabbitMQTesting
import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation

/// The Redis server of a run: the given one, or a private `redis-server` started for it.
struct BenchRedis {
    /// URL with the password, for our clients only.
    let url: String
    let parsed: RedisURL
    /// What the context shows: the redacted URL, or "private redis-server …".
    let description: String
    let version: String?
    let tool: RedisBenchmarkTool?
    private let server: RedisServer?

    static func prepare(_ given: String?, progress: @Sendable (String) -> Void) async throws -> BenchRedis {
        var server: RedisServer?
        let url: String
        if let given {
            url = given
        } else {
            progress("starting a private redis-server")
            let started = try await RedisServer.start()
            server = started
            url = started.url()
        }
        let parsed = try RedisURL(parsing: url, variable: "REDIS_URL")
        let description = server.map { "private redis-server on 127.0.0.1:\($0.port), no persistence (started by the bench)" } ?? "given: \(parsed)"
        let tool = await RedisBenchmarkTool(url: parsed)
        return BenchRedis(url: url, parsed: parsed, description: description, version: try? await Self.serverVersion(url), tool: tool, server: server)
    }

    /// `redis_version` from `INFO server`.
    private static func serverVersion(_ url: String) async throws -> String? {
        let client = try await RedisClient.connect(try RedisClientConfiguration(parsing: url))
        let reply = try? await client.send(RedisCommand("INFO", "server")).bytes()
        await client.close()
        let info = String(decoding: reply ?? [], as: UTF8.self)
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }
        return line.map { String($0.dropFirst("redis_version:".count)) }
    }

    static var hiredisVersion: String { "\(HIREDIS_MAJOR).\(HIREDIS_MINOR).\(HIREDIS_PATCH)" }

    func stop() async { await server?.stop() }
}

/// The RabbitMQ broker of a run: the given one, or a private broker started for it
/// (stopped when the process exits).
struct BenchRabbitMQ {
    let url: AMQPURL
    let description: String

    static func prepare(_ given: String?, progress: @Sendable (String) -> Void) async throws -> BenchRabbitMQ {
        if let given {
            let url = try AMQPURL(parsing: given, variable: "RABBITMQ_URL")
            return BenchRabbitMQ(url: url, description: "given: \(url)")
        }
        progress("starting a private rabbitmq-server (about 10 s)")
        let broker = try await RabbitMQBroker.shared()
        return BenchRabbitMQ(url: try AMQPURL(parsing: broker.url()), description: "private rabbitmq-server on 127.0.0.1:\(broker.port) (started by the bench)")
    }
}
