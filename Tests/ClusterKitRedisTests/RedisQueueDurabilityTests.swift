import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Synchronization
import Testing

/// The queue's `durable` capability and its restart behaviour, on servers of their own.
@Suite("Redis queue: durability", .serialized)
struct RedisQueueDurabilityTests {
    /// What the handlers saw: text and attempt of every run.
    final class Runs: Sendable {
        private let runs = Mutex<[(text: String, attempt: Int)]>([])
        func append(_ text: String, _ attempt: Int) { runs.withLock { $0.append((text, attempt)) } }
        var values: [(text: String, attempt: Int)] { runs.withLock { $0 } }
    }

    /// The outcome of every publish.
    final class PublishLog: Sendable {
        private let state = Mutex<(accepted: [String], refused: Int, unexpected: [String])>(([], 0, []))
        func accepted(_ text: String) { state.withLock { $0.accepted.append(text) } }
        func refused() { state.withLock { $0.refused += 1 } }
        func unexpected(_ error: String) { state.withLock { $0.unexpected.append(error) } }
        var snapshot: (accepted: [String], refused: Int, unexpected: [String]) { state.withLock { $0 } }
    }

    /// `redis-server` with AOF (`appendfsync always`) is SIGKILLed and restarted while a
    /// producer publishes and a consumer works: every message whose publish returned is
    /// handled at least once, and a message is seen again only as a retry (attempt > 1).
    @Test func everyPublishedMessageSurvivesSIGKILLAndRestart() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        defer { Task { await server.stop() } }
        let url = server.url(query: "command_timeout=1s")
        let appName = "durable"
        let producer = RedisMessageQueue(client: try await makeClient(url), appName: appName, nodeID: NodeID("producer"))
        let worker = RedisMessageQueue(client: try await makeClient(url), appName: appName, nodeID: NodeID("worker"))
        defer { Task { await producer.close(drainTimeout: .zero); await worker.close(drainTimeout: .zero) } }
        let runs = Runs()
        let consumer = try await worker.consume("jobs", options: QueueConsumerOptions(concurrency: 4, visibilityTimeout: .seconds(1))) { message in
            runs.append(message.text, message.attempt)
            try await Task.sleep(for: .milliseconds(2))
        }
        let options = QueuePublishOptions(maxAttempts: 20, timeout: .seconds(5),
                                          backoff: Backoff(initial: .milliseconds(20), multiplier: 2, maximum: .milliseconds(200), jitter: 0))
        let log = PublishLog()
        let publishing = Task {
            var index = 0
            while !Task.isCancelled {
                let text = "job-\(index)"
                index += 1
                do {
                    try await producer.publish("jobs", Array(text.utf8), options: options)
                    log.accepted(text)
                } catch let error as QueueError where error.code == .backend {
                    // Refused during the outage: the caller knows it was not published.
                    log.refused()
                } catch {
                    log.unexpected("\(error)")
                }
                if index % 10 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            }
        }
        try await Task.sleep(for: .milliseconds(60))
        try await server.kill()
        try await Task.sleep(for: .milliseconds(150))
        try await server.restart()
        // Keep publishing until well after the restart, so the outage is mid-stream.
        let acceptedAtRestart = log.snapshot.accepted.count
        let publishDeadline = ContinuousClock.now + .seconds(20)
        while log.snapshot.accepted.count < acceptedAtRestart + 100, ContinuousClock.now < publishDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        publishing.cancel()
        await publishing.value
        let (accepted, refused, unexpected) = log.snapshot
        #expect(unexpected.isEmpty, "publish errors other than QueueError.backend: \(unexpected)")
        #expect(refused > 0, "no publish was refused: the kill did not happen mid-stream")
        #expect(acceptedAtRestart > 0 && accepted.count >= acceptedAtRestart + 100,
                "accepted \(acceptedAtRestart) before the restart and \(accepted.count) in all")
        // Every accepted message is handled at least once (the worker reconnects by itself).
        let deadline = ContinuousClock.now + .seconds(30)
        while Set(runs.values.map(\.text)).isSuperset(of: accepted) == false, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let handled = Set(runs.values.map(\.text))
        let lost = accepted.filter { !handled.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) accepted messages never handled: \(lost.prefix(10))")
        // A message is handled twice only as a retry (attempt > 1).
        var firstAttempts: [String: Int] = [:]
        for run in runs.values where run.attempt == 1 { firstAttempts[run.text, default: 0] += 1 }
        let repeated = firstAttempts.filter { $0.value > 1 }
        #expect(repeated.isEmpty, "messages delivered more than once as attempt 1: \(repeated.keys.sorted().prefix(10))")
        await consumer.stop(drainTimeout: .seconds(1))
        let counts = try await eventuallySucceeds { try await producer.counts("jobs") }
        #expect(counts.dead == 0, "dead letters after the restart: \(counts)")
    }
}
