import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Foundation
import Synchronization
import Testing

/// The push consumer runs handlers in long-lived worker tasks: a worker whose handler timed
/// out is cancelled and must never run another job.
@Suite("RabbitMQ push consumer workers", .serialized)
struct RabbitMQPushConsumerWorkerTests {
    struct Run: Sendable {
        let text: String
        let attempt: Int
        let cancelledAtStart: Bool
        let thread: String
    }

    /// Concurrency 1: the first job outlives its timeout (and returns only once cancelled);
    /// the jobs after it, and its retry, start uncancelled, and no handler runs on a
    /// connection's thread.
    @Test func aTimedOutHandlersCancellationReachesNoLaterJobAndHandlersRunOffTheConnectionThreads() async throws {
        let queue = try await makeRabbitMQNode(appName: "workers-\(UInt32.random(in: 0 ... .max))")
        let runs = Mutex<[Run]>([])
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 1)) { message in
            let text = String(decoding: message.body, as: UTF8.self)
            let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            runs.withLock { $0.append(Run(text: text, attempt: message.attempt, cancelledAtStart: Task.isCancelled, thread: thread)) }
            // The first attempt outlives its timeout, and returns once it is cancelled.
            if text == "slow", message.attempt == 1 { try? await Task.sleep(for: .seconds(30)) }
        }
        let retryAtOnce = Backoff(initial: .milliseconds(10), multiplier: 1, maximum: .milliseconds(10), jitter: 0)
        try await queue.publish("jobs", Array("slow".utf8), options: .init(timeout: .milliseconds(300), backoff: retryAtOnce))
        for index in 0..<3 { try await queue.publish("jobs", Array("next \(index)".utf8)) }
        #expect(try await waitUntil { runs.withLock { $0.count } >= 5 }, "not every job ran: \(runs.withLock { $0.map(\.text) })")
        // Nothing more may come (a job run twice would show here).
        try await Task.sleep(for: .milliseconds(300))
        let seen = runs.withLock { $0 }
        #expect(seen.count == 5, "\(seen.map { ($0.text, $0.attempt) })")
        #expect(seen.filter { $0.text == "slow" }.map(\.attempt) == [1, 2], "the timed-out job was not retried once")
        #expect(Set(seen.map(\.text)) == ["slow", "next 0", "next 1", "next 2"])
        #expect(seen.allSatisfy { !$0.cancelledAtStart }, "a handler started cancelled: \(seen.map { ($0.text, $0.cancelledAtStart) })")
        #expect(seen.allSatisfy { !$0.thread.hasPrefix("ck-amqp-") }, "a handler ran on a connection thread: \(seen.map(\.thread))")
        #expect(try await waitUntil { try await queue.counts("jobs") == QueueCounts() })
        await consumer.stop(drainTimeout: .seconds(1))
        await queue.close()
    }

    /// A stop that abandons a running handler cancels it; the handler's message comes back
    /// (at least once) and a new consumer's handlers start uncancelled.
    @Test func aStopAbandoningAHandlerCancelsItAndItsMessageIsRedelivered() async throws {
        let app = "workers-stop-\(UInt32.random(in: 0 ... .max))"
        let queue = try await makeRabbitMQNode(appName: app)
        let cancelled = Atomic<Bool>(false)
        let started = Atomic<Int>(0)
        let first = try await queue.consume("jobs", options: .init(concurrency: 1)) { _ in
            started.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(30))
            if Task.isCancelled { cancelled.store(true, ordering: .relaxed) }
        }
        try await queue.publish("jobs", Array("held".utf8), options: .init(timeout: .seconds(60)))
        #expect(try await waitUntil { started.load(ordering: .relaxed) == 1 })
        await first.stop(drainTimeout: .milliseconds(100))
        #expect(try await waitUntil { cancelled.load(ordering: .relaxed) }, "the abandoned handler was not cancelled")
        let runs = Mutex<[Run]>([])
        let second = try await queue.consume("jobs", options: .init(concurrency: 1)) { message in
            runs.withLock {
                $0.append(Run(text: String(decoding: message.body, as: UTF8.self), attempt: message.attempt,
                              cancelledAtStart: Task.isCancelled, thread: ""))
            }
        }
        #expect(try await waitUntil { runs.withLock { $0.count } >= 1 }, "the abandoned message was not redelivered")
        let seen = runs.withLock { $0 }
        #expect(seen.map(\.text) == ["held"])
        #expect(seen.allSatisfy { !$0.cancelledAtStart })
        await second.stop(drainTimeout: .seconds(1))
        await queue.close()
    }
}
