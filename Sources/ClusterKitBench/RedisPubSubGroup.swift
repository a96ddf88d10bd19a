import ClusterKit
import ClusterKitRedis

/// Redis pub/sub fan-out: 4 `RedisPubSub` nodes in this process (each its own publishing
/// client and reader connection), 1 publishing, 3 subscribed to one channel (fresh per
/// measurement). 50 tasks on the publishing node publish 64-byte payloads for the duration;
/// each payload starts with its publish time, so each delivery gives a publish→deliver
/// latency. signals/s = messages / (first publish → last delivery at the last subscriber);
/// p99 over every delivery. No reference: the targets are absolute.
final class RedisPubSubGroup: BenchGroup {
    static let rateRow = "redis pub/sub signals/s, 1 publisher, 3 subscriber nodes"
    static let latencyRow = "redis pub/sub p99 publish→deliver latency"
    static let publishingTasks = 50
    static let payloadSize = 64
    let rows = [
        BenchRowSpec(name: rateRow, unit: "msg/s", reference: nil, target: .ours(atLeast: 50_000, "msg/s"),
                     note: "messages fully delivered to all 3 subscriber nodes per second, 50 publishing tasks, 64-byte payloads"),
        BenchRowSpec(name: latencyRow, unit: "ms", reference: nil, target: .ours(atMost: 5, "ms"),
                     note: "p99 over every delivery of the signals/s run (publisher saturated)"),
    ]
    private let publisher: RedisPubSub
    private let subscribers: [RedisPubSub]
    private let admin: RedisClient
    private let run = BenchCounter()

    init(url: String) async throws {
        // Retention far above a run's messages, so a lagging reader never loses entries to
        // trimming; each run's stream is deleted afterwards.
        let configuration = RedisPubSub.Configuration(retention: 5_000_000)
        let clientConfiguration = try RedisClientConfiguration(parsing: url)
        func node() async throws -> RedisPubSub {
            RedisPubSub(client: try await RedisClient.connect(clientConfiguration),
                        readerClient: try await RedisClient.connect(RedisPubSub.readerConfiguration(for: clientConfiguration, blockTime: configuration.blockTime)),
                        appName: "bench", configuration: configuration)
        }
        publisher = try await node()
        var subscribers: [RedisPubSub] = []
        for _ in 0..<3 { subscribers.append(try await node()) }
        self.subscribers = subscribers
        admin = try await RedisClient.connect(clientConfiguration)
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        run.increment()
        let channel = "bench-\(run.value)"
        let subscriptions = try await subscribers.asyncMap { try await $0.subscribe(channel, options: PubSubSubscribeOptions(bufferSize: 10_000_000)) }
        let delivered = BenchCounter()
        let publisher = publisher
        let (messages, start, latencies, last) = try await withThrowingTaskGroup(of: (latencies: [Double], last: UInt64).self) { group in
            for subscription in subscriptions {
                group.addTask {
                    var latencies: [Double] = []
                    var last: UInt64 = 0
                    for await message in subscription {
                        let now = BenchClock.nanoseconds()
                        let sent = message.payload.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                        latencies.append(Double(now &- sent) / 1e6)
                        last = now
                        delivered.increment()
                    }
                    return (latencies, last)
                }
            }
            let start = BenchClock.nanoseconds()
            let (messages, _) = try await BenchClock.count(tasks: Self.publishingTasks, duration: duration) { _ in
                var payload = [UInt8](repeating: 0x78, count: Self.payloadSize)
                withUnsafeBytes(of: BenchClock.nanoseconds()) { payload.replaceSubrange(0..<8, with: $0) }
                try await publisher.publish(channel, payload, options: .init())
                return 1
            }
            // Bounded: a reader that stalls ends the measurement with an error.
            let waited: Result<Void, any Error>
            do {
                try await delivered.wait(for: messages * subscriptions.count, timeout: 60 + duration * 20, what: "pub/sub deliveries")
                waited = .success(())
            } catch {
                waited = .failure(error)
            }
            subscriptions.forEach { $0.cancel() }
            var all: [Double] = []
            var last: UInt64 = 0
            for try await result in group {
                all += result.latencies
                last = max(last, result.last)
            }
            try waited.get()
            return (messages, start, all, last)
        }
        _ = try? await admin.send(RedisCommand("UNLINK", "bench:pubsub:\(channel)"))
        let seconds = Double(last &- start) / 1e9
        return [Self.rateRow: BenchSample(ours: Double(messages) / seconds),
                Self.latencyRow: BenchSample(ours: BenchStatistics.percentile(latencies.sorted(), 0.99))]
    }

    func close() async {
        await publisher.close()
        for subscriber in subscribers { await subscriber.close() }
        await admin.close()
    }
}

extension Array where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
