// Queue end-to-end: a publishing node and a consuming node (separate `RedisMessageQueue`
// instances with their own connections). A job counts once its no-op handler returned;
// the consumer acknowledges it after that, as in production.
import ClusterKit
import ClusterKitRedis
import Foundation

struct QueueRun {
    /// N / (first publish → last publish returned), 50 publishing tasks.
    var publishPerSecond: Double
    /// Backlog of N drained: N / (consume call → N-th handler returned).
    var drainPerSecond: Double
    /// Publishing and consuming at once: N / (first publish → N-th handler returned).
    var concurrentPerSecond: Double
}

final class QueueBench {
    static let publishTasks = 50
    static let bodySize = 64
    let producer: RedisMessageQueue
    let consumer: RedisMessageQueue
    private var runNumber = 0

    init(url: String) async throws {
        producer = RedisMessageQueue(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)),
                                     appName: "bench", nodeID: .generate())
        consumer = RedisMessageQueue(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)),
                                     appName: "bench", nodeID: .generate())
    }

    private func publish(_ queue: String, jobs: Int) async throws {
        let producer = self.producer
        let perTask = jobs / Self.publishTasks
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.publishTasks {
                group.addTask {
                    let body = [UInt8](repeating: 0x6A, count: Self.bodySize)
                    for _ in 0..<perTask { _ = try await producer.publish(queue, body, options: .init()) }
                }
            }
            try await group.waitForAll()
        }
    }

    /// `jobs` is rounded down to a multiple of the 50 publishing tasks.
    func run(jobs: Int, handlers: Int) async throws -> QueueRun {
        let jobs = max(1, jobs / Self.publishTasks) * Self.publishTasks
        let timeout = Duration.seconds(300)
        runNumber += 1

        // 1. Publish a backlog, then drain it.
        let backlog = "bench-backlog-\(runNumber)"
        let publishStart = monotonicNanoseconds()
        try await publish(backlog, jobs: jobs)
        let publishDuration = Double(monotonicNanoseconds() - publishStart) / 1e9
        let drained = CompletionCounter(target: jobs)
        let start = monotonicNanoseconds()
        let drainConsumer = try await consumer.consume(backlog, options: QueueConsumerOptions(concurrency: handlers)) { _ in
            drained.increment()
        }
        let drainEnd = try await drained.waitForCompletion(timeout: timeout)
        await drainConsumer.stop(drainTimeout: .seconds(5))
        let drainSeconds = Double(drainEnd - start) / 1e9

        // 2. Publish and consume at once, on a fresh queue.
        let live = "bench-live-\(runNumber)"
        let handled = CompletionCounter(target: jobs)
        let liveConsumer = try await consumer.consume(live, options: QueueConsumerOptions(concurrency: handlers)) { _ in
            handled.increment()
        }
        let liveStart = monotonicNanoseconds()
        try await publish(live, jobs: jobs)
        let liveEnd = try await handled.waitForCompletion(timeout: timeout)
        await liveConsumer.stop(drainTimeout: .seconds(5))

        _ = try await producer.purge(backlog)
        _ = try await producer.purge(live)
        return QueueRun(publishPerSecond: Double(jobs) / publishDuration,
                        drainPerSecond: Double(jobs) / drainSeconds,
                        concurrentPerSecond: Double(jobs) / (Double(liveEnd - liveStart) / 1e9))
    }

    /// Diagnostic: jobs/s of a plain loop in one task doing `receive` then `acknowledge` over
    /// a backlog of `jobs`: the per-job cost of the pull path without `PullConsumer`.
    func sequentialReceiveAcknowledge(jobs: Int) async throws -> Double {
        let jobs = max(1, jobs / Self.publishTasks) * Self.publishTasks
        runNumber += 1
        let queue = "bench-pull-\(runNumber)"
        try await publish(queue, jobs: jobs)
        let start = monotonicNanoseconds()
        for taken in 0..<jobs {
            guard let delivery = try await consumer.receive(queue, wait: .seconds(5), visibilityTimeout: .seconds(30)) else {
                throw BenchmarkFailure("receive returned nothing after \(taken) of \(jobs) jobs")
            }
            try await consumer.acknowledge(delivery)
        }
        let rate = Double(jobs) / (Double(monotonicNanoseconds() - start) / 1e9)
        _ = try await producer.purge(queue)
        return rate
    }

    func close() async {
        await consumer.close()
        await producer.close()
    }
}
