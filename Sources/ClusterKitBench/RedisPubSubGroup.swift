import ClusterKit
import ClusterKitRedis

/// Redis pub/sub fan-out: 4 `RedisPubSub` nodes in this process (each its own publishing
/// client and reader connection), 1 publishing, 3 subscribed to one channel (fresh per
/// measurement). 50 tasks on the publishing node publish 64-byte payloads for the duration;
/// each payload starts with its publish time, so each delivery gives a publish→deliver
/// latency. signals/s = messages / (first publish → last delivery at the last subscriber);
/// p99 over every delivery. No reference: the targets are absolute.
///
/// The saturated p99 includes the backlog the readers build while the publisher outruns
/// them, so it grows with the run's length; the paced row measures latency at a stated,
/// sustainable load instead: open loop over 50 tasks, message `n` is due at
/// `start + n / rate`, and each payload is stamped when its publish starts (as in the
/// saturated run), so a timer waking late on a busy machine is not counted as pub/sub
/// latency; a publish that blocks is (its own message carries the earlier stamp).
final class RedisPubSubGroup: BenchGroup {
    static let rateRow = "redis pub/sub signals/s, 1 publisher, 3 subscriber nodes"
    static let latencyRow = "redis pub/sub p99 publish→deliver latency"
    static let pacedLatencyRow = "redis pub/sub p99 publish→deliver latency at 10k msg/s"
    static let publishingTasks = 50
    static let payloadSize = 64
    /// The paced run's publish rate, spread over ``pacedTasks`` tasks.
    static let pacedRate = 10_000
    static let pacedTasks = 50
    let rows = [
        BenchRowSpec(name: rateRow, unit: "msg/s", reference: nil, target: .ours(atLeast: 50_000, "msg/s"),
                     note: "messages fully delivered to all 3 subscriber nodes per second, 50 publishing tasks, 64-byte payloads"),
        BenchRowSpec(name: latencyRow, unit: "ms", reference: nil, target: .ours(atMost: 5, "ms"),
                     note: "p99 over every delivery of the signals/s run (publisher saturated)"),
        BenchRowSpec(name: pacedLatencyRow, unit: "ms", reference: nil, target: .ours(atMost: 5, "ms"),
                     note: "p99 over every delivery, open-loop publishing at 10,000 msg/s (50 tasks, each message due at start + n/rate), latency from its publish call"),
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
        let publisher = publisher
        let saturated = try await deliveries(duration: duration) { channel in
            try await BenchClock.count(tasks: Self.publishingTasks, duration: duration) { _ in
                try await publisher.publish(channel, Self.payload(stamped: BenchClock.nanoseconds()), options: .init())
                return 1
            }.operations
        }
        let paced = try await deliveries(duration: duration) { channel in
            try await Self.publishPaced(duration: duration) {
                try await publisher.publish(channel, Self.payload(stamped: BenchClock.nanoseconds()), options: .init())
            }
        }
        return [Self.rateRow: BenchSample(ours: Double(saturated.messages) / saturated.seconds),
                Self.latencyRow: BenchSample(ours: BenchStatistics.percentile(saturated.latencies, 0.99)),
                Self.pacedLatencyRow: BenchSample(ours: BenchStatistics.percentile(paced.latencies, 0.99))]
    }

    /// A 64-byte payload starting with `nanoseconds` (the publish or due time).
    static func payload(stamped nanoseconds: UInt64) -> [UInt8] {
        var payload = [UInt8](repeating: 0x78, count: payloadSize)
        withUnsafeBytes(of: nanoseconds) { payload.replaceSubrange(0..<8, with: $0) }
        return payload
    }

    /// Open-loop publishing at ``pacedRate`` for `duration` seconds: task `t` of
    /// ``pacedTasks`` publishes messages `t`, `t + pacedTasks`, … each at its due time
    /// (`start + n / rate`, or at once when late). Returns the messages published.
    static func publishPaced(duration: Double, _ publish: @escaping @Sendable () async throws -> Void) async throws -> Int {
        let start = BenchClock.nanoseconds() + 1_000_000
        let total = Int(Double(pacedRate) * duration)
        let interval = 1e9 / Double(pacedRate)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<pacedTasks {
                group.addTask {
                    var sent = 0
                    for index in stride(from: task, to: total, by: pacedTasks) {
                        let due = start + UInt64(Double(index) * interval)
                        let now = BenchClock.nanoseconds()
                        if due > now { try await Task.sleep(nanoseconds: due - now) }
                        try await publish()
                        sent += 1
                    }
                    return sent
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// Subscribes the 3 subscriber nodes to a fresh channel, runs `publish` (which returns
    /// how many messages it published), waits (bounded) until every subscriber has every
    /// message, and returns the count, the seconds from the start of publishing to the last
    /// delivery, and every delivery's latency (ms, sorted).
    private func deliveries(duration: Double, _ publish: (_ channel: String) async throws -> Int) async throws
        -> (messages: Int, seconds: Double, latencies: [Double]) {
        run.increment()
        let channel = "bench-\(run.value)"
        let subscriptions = try await subscribers.asyncMap { try await $0.subscribe(channel, options: PubSubSubscribeOptions(bufferSize: 10_000_000)) }
        let delivered = BenchCounter()
        let (messages, start, latencies, last) = try await withThrowingTaskGroup(of: (latencies: [Double], last: UInt64).self) { group in
            for subscription in subscriptions {
                group.addTask {
                    var latencies: [Double] = []
                    var last: UInt64 = 0
                    for await message in subscription {
                        let now = BenchClock.nanoseconds()
                        let sent = message.payload.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                        latencies.append(Double(Int64(bitPattern: now &- sent)) / 1e6)
                        last = now
                        delivered.increment()
                    }
                    return (latencies, last)
                }
            }
            let start = BenchClock.nanoseconds()
            let messages = try await publish(channel)
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
        return (messages, Double(last &- start) / 1e9, latencies.sorted())
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
