import ClusterKit
import ClusterKitRabbitMQ
import Synchronization

/// RabbitMQ rows: the `rabbitmq` queue adapter (public `MessageQueue` API) next to the raw
/// rabbitmq-c loop (`CRabbitMQRawLoop`), on one broker, 100-byte persistent messages.
///
/// - Publish: ours = 1,024 tasks each awaiting its confirmed `publish` (the adapter's
///   confirm window is 512, so it stays full) for the duration; raw = confirm window 512,
///   as many messages as the raw loop does in about the duration.
/// - Consume: each side drains a backlog of N messages filled beforehand by the raw loop
///   (N ≈ its previous rate × duration). Ours = one consumer, 200 no-op handlers, prefetch
///   200, the adapter's batched acks, timed from the `consume` call to the N-th handler's
///   return; raw = prefetch 200, one `basic.ack multiple` every 50 messages, timed from
///   `basic.consume` to the last ack.
final class RabbitMQQueueGroup: BenchGroup {
    static let publishRow = "rabbitmq confirmed publish"
    static let consumeRow = "rabbitmq consume + ack, prefetch 200"
    static let propertiesRow = "rabbitmq confirmed publish, raw loop with the adapter's properties"
    static let window = 512
    static let prefetch = 200
    static let rawAckEvery = 50
    static let size = 100
    let rows = [
        BenchRowSpec(name: publishRow, unit: "msg/s", reference: "raw rabbitmq-c, confirm window 512", target: .ratio(atLeast: 0.9),
                     note: "ours: 1,024 tasks each awaiting its confirmed publish (adapter window 512)"),
        BenchRowSpec(name: consumeRow, unit: "msg/s", reference: "raw rabbitmq-c, prefetch 200, basic.ack multiple every 50",
                     target: .ratio(atLeast: 0.9), note: "ours: 200 no-op handlers, prefetch 200, adapter's batched acks; both drain a pre-filled backlog"),
        BenchRowSpec(name: propertiesRow, unit: "msg/s", reference: "raw rabbitmq-c, confirm window 512", target: nil,
                     note: "diagnostic: the raw loop itself, each message also carrying what the adapter sends with default options (a message ID, the x-ck-published-ms header, mandatory) — the ratio the publish row could reach if our client cost nothing"),
    ]
    private let adapter: RabbitMQMessageQueue
    private let raw: RawRabbitMQLoop
    /// Last rates (msg/s) of the count-based loads, to size the next run to the duration.
    private let rates = Mutex<[String: Double]>([:])
    let serverVersion: String

    init(url: AMQPURL) async throws {
        var url = url
        url.prefetch = Self.prefetch
        adapter = try await RabbitMQMessageQueue(settings: RabbitMQConnectionSettings(url: url), appName: "bench", nodeID: NodeID("bench-rabbitmq"))
        raw = RawRabbitMQLoop(url: url)
        _ = try await adapter.purge("publish")
        _ = try await adapter.purge("consume")
        serverVersion = try await raw.purge(queue: "bench-raw").serverVersion
    }

    private func count(_ load: String, duration: Double) -> Int {
        rates.withLock { $0[load] }.map { max(1_000, Int($0 * duration)) } ?? 2_000
    }

    private func record(_ load: String, _ rate: Double) -> Double {
        rates.withLock { $0[load] = rate }
        return rate
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        let adapter = adapter
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: Self.size)
        let ours = try await BenchClock.rate(tasks: 1_024, duration: duration) { _ in
            _ = try await adapter.publish("publish", body)
            return 1
        }
        _ = try await adapter.purge("publish")
        let rawPublishCount = count("raw publish", duration: duration)
        let rawPublish = try await raw.publish(queue: "bench-raw", count: rawPublishCount, window: Self.window, size: Self.size)
        let rawPublishRate = record("raw publish", Double(rawPublishCount) / rawPublish.seconds)
        try await raw.purge(queue: "bench-raw")
        let propertiesCount = count("raw publish with properties", duration: duration)
        let propertiesPublish = try await raw.publish(queue: "bench-raw", count: propertiesCount, window: Self.window, size: Self.size,
                                                      adapterProperties: true)
        let propertiesRate = record("raw publish with properties", Double(propertiesCount) / propertiesPublish.seconds)
        try await raw.purge(queue: "bench-raw")

        let oursConsume = try await consumeOurs(count: count("ours consume", duration: duration))
        let rawCount = count("raw consume", duration: duration)
        _ = try await raw.publish(queue: "bench-raw", count: rawCount, window: Self.window, size: Self.size)
        let rawConsume = try await raw.consume(queue: "bench-raw", count: rawCount, prefetch: Self.prefetch, ackEvery: Self.rawAckEvery)
        let rawConsumeRate = record("raw consume", Double(rawCount) / rawConsume.seconds)
        return [Self.publishRow: BenchSample(ours: ours, reference: rawPublishRate),
                Self.consumeRow: BenchSample(ours: oursConsume, reference: rawConsumeRate),
                Self.propertiesRow: BenchSample(ours: propertiesRate, reference: rawPublishRate)]
    }

    /// Fills the adapter's queue with `count` messages (raw loop), then times our consumer draining it.
    private func consumeOurs(count: Int) async throws -> Double {
        _ = try await raw.publish(queue: "bench:queue:consume", passive: true, count: count, window: Self.window, size: Self.size)
        let handled = BenchCounter()
        let start = BenchClock.nanoseconds()
        let consumer = try await adapter.consume("consume", options: QueueConsumerOptions(concurrency: Self.prefetch)) { _ in handled.increment() }
        let outcome: Result<Double, any Error>
        do {
            try await handled.wait(for: count, timeout: 120, what: "RabbitMQ messages handled")
            outcome = .success(Double(count) / BenchClock.seconds(since: start))
        } catch {
            outcome = .failure(error)
        }
        await consumer.stop(drainTimeout: .seconds(10))
        _ = try await adapter.purge("consume")
        return record("ours consume", try outcome.get())
    }

    func close() async {
        _ = try? await raw.purge(queue: "bench-raw")
        await adapter.close(drainTimeout: .seconds(10))
    }
}
