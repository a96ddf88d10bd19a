import ClusterKit
import ClusterKitRedis

/// `redis queue end-to-end jobs/s, 32 handlers`: a publishing node (50 tasks publishing
/// 64-byte jobs) and a consuming node (one consumer, 32 no-op handlers), separate
/// `RedisMessageQueue` instances. Figure: jobs whose handler returned while the publishers
/// ran, per second of that window (the steady rate the cluster completes jobs at; a backlog
/// the consumer does not keep up with is purged afterwards). No reference: the target is
/// absolute.
final class RedisQueueGroup: BenchGroup {
    static let row = "redis queue end-to-end jobs/s, 32 handlers"
    let rows = [BenchRowSpec(name: row, unit: "jobs/s", reference: nil, target: .ours(atLeast: 40_000, "jobs/s"),
                             note: "jobs handled while 50 tasks publish, per second of that window")]
    private let producer: RedisMessageQueue
    private let consumer: RedisMessageQueue
    private let runs = BenchCounter()

    init(url: String) async throws {
        producer = RedisMessageQueue(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)),
                                     appName: "bench", nodeID: NodeID("bench-producer"))
        consumer = RedisMessageQueue(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)),
                                     appName: "bench", nodeID: NodeID("bench-consumer"))
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        runs.increment()
        let queue = "bench-\(runs.value)"
        let handled = BenchCounter()
        let running = try await consumer.consume(queue, options: QueueConsumerOptions(concurrency: 32)) { _ in handled.increment() }
        let producer = producer
        let body = [UInt8](repeating: 0x6A, count: 64)
        let start = BenchClock.nanoseconds()
        _ = try await BenchClock.count(tasks: 50, duration: duration) { _ in
            _ = try await producer.publish(queue, body, options: .init())
            return 1
        }
        let rate = Double(handled.value) / BenchClock.seconds(since: start)
        await running.stop(drainTimeout: .seconds(5))
        _ = try await producer.purge(queue)
        return [Self.row: BenchSample(ours: rate)]
    }

    func close() async {
        await consumer.close()
        await producer.close()
    }
}
