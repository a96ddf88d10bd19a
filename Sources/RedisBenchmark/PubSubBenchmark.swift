// Pub/sub fan-out: one publishing node, three subscribing nodes (separate `RedisPubSub`
// instances, each with its own connections), all on one channel. Each payload carries its
// publish time, so every delivery yields one publish→deliver latency.
import ClusterKit
import ClusterKitRedis
import Foundation

struct PubSubRun {
    /// Messages per second fully fanned out: N / (first publish → last delivery at the last subscriber).
    var messagesPerSecond: Double
    /// Deliveries per second over the same interval (3 × N).
    var deliveriesPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var lost: Int
}

/// One set of nodes reused for every run (a fresh channel per run).
final class PubSubBench {
    static let subscriberCount = 3
    static let payloadSize = 64
    let publisher: RedisPubSub
    let subscribers: [RedisPubSub]
    private var runNumber = 0

    init(url: String, messages: Int) async throws {
        // Retention above N so a subscriber that lags never loses entries to MAXLEN trimming.
        let configuration = RedisPubSub.Configuration(retention: messages * 2)
        func node() async throws -> RedisPubSub {
            let clientConfiguration = try RedisClientConfiguration(parsing: url)
            let client = try await RedisClient.connect(clientConfiguration)
            let reader = try await RedisClient.connect(RedisPubSub.readerConfiguration(for: clientConfiguration, blockTime: configuration.blockTime))
            return RedisPubSub(client: client, readerClient: reader, appName: "bench", configuration: configuration)
        }
        publisher = try await node()
        var subscribers: [RedisPubSub] = []
        for _ in 0..<Self.subscriberCount { subscribers.append(try await node()) }
        self.subscribers = subscribers
    }

    /// Publishes `messages` from `tasks` concurrent tasks and waits until all three
    /// subscribers received them all (or 60 s passed).
    func run(messages: Int, tasks: Int) async throws -> PubSubRun {
        runNumber += 1
        let messages = max(1, messages / tasks) * tasks
        let channel = "bench-\(runNumber)"
        let subscriptions = try await subscribers.asyncMap {
            try await $0.subscribe(channel, options: PubSubSubscribeOptions(bufferSize: messages + 1))
        }
        let publisher = self.publisher
        return try await withThrowingTaskGroup(of: (latencies: [Double], last: UInt64).self) { group in
            for subscription in subscriptions {
                group.addTask {
                    var latencies: [Double] = []
                    latencies.reserveCapacity(messages)
                    var last: UInt64 = 0
                    for await message in subscription {
                        let now = monotonicNanoseconds()
                        let sent = message.payload.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                        latencies.append(Double(now &- sent) / 1_000_000)
                        last = now
                        if latencies.count == messages { break }
                    }
                    return (latencies, last)
                }
            }
            let start = monotonicNanoseconds()
            let perTask = messages / tasks
            try await withThrowingTaskGroup(of: Void.self) { publishers in
                for _ in 0..<tasks {
                    publishers.addTask {
                        var payload = [UInt8](repeating: 0x78, count: Self.payloadSize)
                        for _ in 0..<perTask {
                            withUnsafeBytes(of: monotonicNanoseconds()) { payload.replaceSubrange(0..<8, with: $0) }
                            try await publisher.publish(channel, payload, options: .init())
                        }
                    }
                }
                try await publishers.waitForAll()
            }
            // Bound the wait: cancelling the subscriptions ends their streams.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(60))
                subscriptions.forEach { $0.cancel() }
            }
            defer { watchdog.cancel() }
            var all: [Double] = []
            var last: UInt64 = 0
            var lost = 0
            for try await result in group {
                all += result.latencies
                last = max(last, result.last)
                lost += messages - result.latencies.count
            }
            subscriptions.forEach { $0.cancel() }
            all.sort()
            let seconds = Double(last - start) / 1e9
            return PubSubRun(messagesPerSecond: Double(messages) / seconds,
                             deliveriesPerSecond: Double(all.count) / seconds,
                             p50Milliseconds: percentile(all, 0.50), p99Milliseconds: percentile(all, 0.99), lost: lost)
        }
    }

    /// Diagnostic: messages/s published from `tasks` tasks on a channel nobody subscribes to
    /// (the readers have nothing to read), to separate the publishing path from fan-out.
    func publishOnly(messages: Int, tasks: Int) async throws -> Double {
        runNumber += 1
        let channel = "bench-unread-\(runNumber)"
        let publisher = self.publisher
        let perTask = max(1, messages / tasks)
        let start = monotonicNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    let payload = [UInt8](repeating: 0x78, count: Self.payloadSize)
                    for _ in 0..<perTask { try await publisher.publish(channel, payload, options: .init()) }
                }
            }
            try await group.waitForAll()
        }
        return Double(perTask * tasks) / (Double(monotonicNanoseconds() - start) / 1e9)
    }

    func close() async {
        await publisher.close()
        for subscriber in subscribers { await subscriber.close() }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
