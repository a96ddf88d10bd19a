import ArgumentParser
import ClusterKit
import ClusterKitRabbitMQ
import Foundation
import Synchronization

/// `clusterkit bench-rabbitmq` (hidden): the adapter side of `scripts/bench-rabbitmq.sh`.
///
/// Through the public ``MessageQueue`` API of one `rabbitmq` adapter instance it purges the
/// queue, publishes `count` messages of `size` bytes from `tasks` concurrent tasks (each
/// `publish` returns after the broker's confirm; the adapter pipelines them in its confirm
/// window), then consumes them with one consumer of `concurrency` no-op handlers and
/// `prefetch`. Prints one JSON line per phase with msgs/s. The consume phase is timed from
/// the `consume` call (which also opens the consumer's connection) to the return of the
/// `count`-th handler; the last acknowledgements go out within milliseconds after that.
/// Not a test: it asserts nothing beyond every message being handled.
struct BenchRabbitMQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-rabbitmq",
        abstract: "Measure confirmed publish and consume throughput of the rabbitmq queue adapter.",
        shouldDisplay: false
    )

    @Option(name: .long, help: "Broker URL (default: $RABBITMQ_URL).")
    var url: String?

    @Option(name: .long, help: "Queue name (under app 'bench').")
    var queue = "ours"

    @Option(name: .long, help: "Messages per phase.")
    var count = 20_000

    @Option(name: .long, help: "Message body size in bytes.")
    var size = 100

    @Option(name: .long, help: "Concurrent publishing tasks.")
    var tasks = 1_024

    @Option(name: .long, help: "Handlers running at once in the consumer.")
    var concurrency = 200

    @Option(name: .long, help: "basic.qos prefetch of the consumer (raised to the concurrency by the adapter).")
    var prefetch = 200

    @Flag(name: .long, help: "Only publish (no consume phase).")
    var publishOnly = false

    struct Line: Encodable {
        var mode: String
        var count: Int
        var seconds: Double
        var msgsPerSec: Int
        var tasks: Int?
        var concurrency: Int?
        var prefetch: Int?
        var size: Int
    }

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .error)
        guard let text = url ?? configuration.value(ClusterSettings.rabbitMQURL.name) else {
            CommandEnvironment.fail("give the broker with --url or RABBITMQ_URL", status: 2)
        }
        guard count > 0, size >= 0, tasks > 0, concurrency > 0, prefetch > 0 else {
            CommandEnvironment.fail("count, tasks, concurrency and prefetch must be positive", status: 2)
        }
        var amqp = try ConnectionURL(text, variable: "--url").amqp()
        amqp.prefetch = prefetch
        let adapter = try await RabbitMQMessageQueue(settings: RabbitMQConnectionSettings(url: amqp), appName: "bench",
                                                     nodeID: NodeID("bench-\(getpid())"))
        try await adapter.purge(queue)
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)

        let publishSeconds = try await publish(adapter, body: body)
        emit(Line(mode: "publish", count: count, seconds: publishSeconds, msgsPerSec: rate(publishSeconds), tasks: tasks, size: size))
        if !publishOnly {
            let consumeSeconds = try await consume(adapter)
            emit(Line(mode: "consume", count: count, seconds: consumeSeconds, msgsPerSec: rate(consumeSeconds),
                      concurrency: concurrency, prefetch: max(prefetch, concurrency), size: size))
        }
        await adapter.close(drainTimeout: .seconds(10))
    }

    private func rate(_ seconds: Double) -> Int { Int((Double(count) / seconds).rounded()) }

    private func emit(_ line: Line) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: (try? encoder.encode(line)) ?? Data(), as: UTF8.self))
    }

    /// `tasks` tasks share the `count` publishes; each awaits its confirm before the next.
    private func publish(_ adapter: RabbitMQMessageQueue, body: [UInt8]) async throws -> Double {
        let (count, tasks, queue) = (count, min(tasks, count), queue)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<tasks {
                let share = count / tasks + (index < count % tasks ? 1 : 0)
                group.addTask {
                    for _ in 0..<share { try await adapter.publish(queue, body) }
                }
            }
            try await group.waitForAll()
        }
        return Self.seconds(ContinuousClock.now - start)
    }

    /// One consumer with no-op handlers; done when `count` handlers have returned.
    private func consume(_ adapter: RabbitMQMessageQueue) async throws -> Double {
        let handled = Atomic<Int>(0)
        let count = count
        let (stream, done) = AsyncStream.makeStream(of: Void.self)
        let start = ContinuousClock.now
        let consumer = try await adapter.consume(queue, options: QueueConsumerOptions(concurrency: concurrency)) { _ in
            if handled.add(1, ordering: .relaxed).newValue == count { done.yield() }
        }
        // Bounded: a stall (lost messages) ends the run with an error instead of hanging.
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in stream { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(300))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            done.finish()
            return first
        }
        let elapsed = Self.seconds(ContinuousClock.now - start)
        await consumer.stop(drainTimeout: .seconds(10))
        guard finished else {
            throw ValidationError("only \(handled.load(ordering: .relaxed)) of \(count) messages were handled within 300 s")
        }
        return elapsed
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
