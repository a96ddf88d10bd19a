import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation
import Synchronization
import Testing

/// The native Streams consumer of the Redis queue (`RedisStreamConsumer`): start-up replay,
/// claim renewal, `XAUTOCLAIM` takeover and batched acknowledgements, observed on the server.
@Suite("Redis queue: native Streams consumer", .serialized)
struct RedisQueueConsumerTests {
    private func node(_ appName: String, _ nodeID: String) async throws -> RedisMessageQueue {
        RedisMessageQueue(client: try await makeClient(), appName: appName, nodeID: NodeID(nodeID))
    }

    private func appName(_ name: String) -> String {
        uniquePrefix(name).replacingOccurrences(of: ":", with: "")
    }

    /// What handlers saw: text, attempt, and which node.
    final class Seen: Sendable {
        private let values = Mutex<[(text: String, attempt: Int, node: String)]>([])
        func append(_ message: QueueMessage, _ node: String) { values.withLock { $0.append((message.text, message.attempt, node)) } }
        var all: [(text: String, attempt: Int, node: String)] { values.withLock { $0 } }
        var count: Int { values.withLock { $0.count } }
    }

    @Test func aRestartedNodeReplaysItsOwnPendingEntriesBeforeTheirVisibilityTimeout() async throws {
        let app = appName("consumer-replay")
        // The claims are long: only the start-up replay can bring the entries back in time.
        let options = QueueConsumerOptions(concurrency: 4, visibilityTimeout: .seconds(60))
        let crashed = try await node(app, "worker-1")
        let started = Seen()
        _ = try await crashed.consume("jobs", options: options) { message in
            started.append(message, "crashed")
            try await Task.sleep(for: .seconds(60))
        }
        for index in 0..<3 { try await crashed.publish("jobs", Array("job \(index)".utf8), options: .init(timeout: .seconds(60))) }
        #expect(try await waitUntil { started.count == 3 }, "the first process never started all three handlers")
        // The process "dies": handlers abandoned, nothing acknowledged, entries stay pending.
        await crashed.close(drainTimeout: .zero)

        let other = try await node(app, "worker-2")
        let restarted = try await node(app, "worker-1")
        defer { Task { await other.close(drainTimeout: .zero); await restarted.close(drainTimeout: .zero) } }
        let seen = Seen()
        let otherConsumer = try await other.consume("jobs", options: options) { seen.append($0, "other") }
        let restartedConsumer = try await restarted.consume("jobs", options: options) { seen.append($0, "restarted") }
        #expect(try await waitUntil { seen.count >= 3 }, "the restarted node did not replay its pending entries: \(seen.all)")
        try await Task.sleep(for: .milliseconds(200))
        let values = seen.all
        #expect(values.count == 3, "handled \(values.count) times: \(values)")
        #expect(Set(values.map(\.text)) == ["job 0", "job 1", "job 2"])
        #expect(values.allSatisfy { $0.node == "restarted" }, "another node took entries whose claim was live: \(values)")
        #expect(values.allSatisfy { $0.attempt == 2 }, "a replay counts as the next attempt: \(values.map(\.attempt))")
        #expect(try await waitUntil { try await restarted.counts("jobs") == QueueCounts() })
        await otherConsumer.stop(drainTimeout: .seconds(1))
        await restartedConsumer.stop(drainTimeout: .seconds(1))
    }

    @Test func aHandlerRunningLongerThanTheVisibilityTimeoutKeepsItsMessage() async throws {
        let app = appName("consumer-renew")
        let visibility = Duration.milliseconds(600)
        let options = QueueConsumerOptions(concurrency: 2, visibilityTimeout: visibility)
        let (slow, idle) = try await (node(app, "slow"), node(app, "idle"))
        defer { Task { await slow.close(drainTimeout: .zero); await idle.close(drainTimeout: .zero) } }
        let seen = Seen()
        let finished = Mutex(false)
        let slowConsumer = try await slow.consume("jobs", options: options) { message in
            seen.append(message, "slow")
            try await Task.sleep(for: visibility * 4)
            finished.withLock { $0 = true }
        }
        try await slow.publish("jobs", Array("long".utf8), options: .init(timeout: .seconds(30)))
        #expect(try await waitUntil { seen.count == 1 })
        let idleConsumer = try await idle.consume("jobs", options: options) { seen.append($0, "idle") }
        #expect(try await waitUntil { finished.withLock { $0 } })
        #expect(try await waitUntil { try await slow.counts("jobs") == QueueCounts() })
        try await Task.sleep(for: visibility)
        #expect(seen.all.map(\.node) == ["slow"], "the message was taken from its live holder: \(seen.all)")
        await idleConsumer.stop(drainTimeout: .seconds(1))
        await slowConsumer.stop(drainTimeout: .seconds(1))
    }

    @Test func anEntryOfADeadConsumerIsTakenOverAsTheNextAttempt() async throws {
        let app = appName("consumer-takeover")
        let keys = RedisQueueKeys(appName: app, queue: "jobs")
        let survivor = try await node(app, "survivor")
        defer { Task { await survivor.close(drainTimeout: .zero) } }
        let raw = try await makeClient()
        defer { Task { await raw.close() } }
        try await raw.send(RedisCommand("XGROUP", "CREATE", keys.stream, RedisQueueKeys.group, "0", "MKSTREAM"))
        try await survivor.publish("jobs", Array("orphan".utf8))
        // A consumer that reads the entry and dies without a trace: a bare XREADGROUP.
        // Timed before it is sent, so the entry's idle time on the server is at most this.
        let readAt = ContinuousClock.now
        let read = try await raw.send(RedisCommand("XREADGROUP", "GROUP", RedisQueueKeys.group, "dead-node", "COUNT", 10,
                                                   "STREAMS", keys.stream, ">"))
        #expect(try read.array().count == 1, "the dead consumer did not get the entry")

        let visibility = Duration.milliseconds(400)
        let seen = Seen()
        let arrival = Mutex<ContinuousClock.Instant?>(nil)
        let consumer = try await survivor.consume("jobs", options: .init(visibilityTimeout: visibility)) { message in
            arrival.withLock { $0 = $0 ?? ContinuousClock.now }
            seen.append(message, "survivor")
        }
        #expect(try await waitUntil { seen.count >= 1 }, "the dead consumer's entry was never taken over")
        let values = seen.all
        #expect(values.map(\.text) == ["orphan"])
        #expect(values.map(\.attempt) == [2], "a takeover is the next attempt")
        let waited = try #require(arrival.withLock { $0 }) - readAt
        #expect(waited >= visibility - .milliseconds(5), "taken over after \(waited), before the entry was idle for the visibility timeout")
        #expect(try await waitUntil { try await survivor.counts("jobs") == QueueCounts() })
        let pending = try await raw.send(RedisCommand("XPENDING", keys.stream, RedisQueueKeys.group)).array()
        #expect(try pending[0].integer() == 0, "the entry is still pending after the takeover was handled")
        #expect(try await survivor.deadLetters("jobs").isEmpty)
        await consumer.stop(drainTimeout: .seconds(1))
    }

    @Test func successfulHandlersAreAcknowledgedInBatches() async throws {
        let app = appName("consumer-batch")
        let keys = RedisQueueKeys(appName: app, queue: "jobs")
        let queue = try await node(app, "batcher")
        defer { Task { await queue.close(drainTimeout: .zero) } }
        let messages = 400
        for index in 0..<messages { try await queue.publish("jobs", Array("m\(index)".utf8)) }
        let stats = try await makeClient()
        defer { Task { await stats.close() } }
        let before = try await commandCalls(stats)

        let seen = Seen()
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 32)) { seen.append($0, "batcher") }
        #expect(try await waitUntil { seen.count >= messages })
        #expect(try await waitUntil { try await queue.counts("jobs") == QueueCounts() }, "not every message was acknowledged")
        await consumer.stop(drainTimeout: .seconds(1))
        let after = try await commandCalls(stats)

        #expect(seen.count == messages, "handled \(seen.count) times for \(messages) messages")
        let acks = after["xack", default: 0] - before["xack", default: 0]
        let reads = after["xreadgroup", default: 0] - before["xreadgroup", default: 0]
        #expect(acks >= 1 && acks < messages, "\(acks) XACK calls for \(messages) messages: acknowledgements are not batched")
        #expect(reads >= 1 && reads < messages, "\(reads) XREADGROUP calls for \(messages) messages: reads are not batched")
        #expect(try await stats.send(RedisCommand("XLEN", keys.stream)).integer() == 0, "acknowledged entries are deleted")
    }

    /// Handlers run in long-lived workers: the cancellation of a timed-out handler must not
    /// reach the jobs that come after it, and handlers never run on a connection's thread.
    @Test func aTimedOutHandlersCancellationReachesNoLaterJobAndHandlersRunOffTheConnectionThreads() async throws {
        let app = appName("consumer-workers")
        let queue = try await node(app, "workers")
        defer { Task { await queue.close(drainTimeout: .zero) } }
        struct Run: Sendable {
            let text: String
            let attempt: Int
            let cancelledAtStart: Bool
            let thread: String
        }
        let runs = Mutex<[Run]>([])
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 1)) { message in
            let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            runs.withLock { $0.append(Run(text: message.text, attempt: message.attempt, cancelledAtStart: Task.isCancelled, thread: thread)) }
            // The first attempt outlives its timeout, and returns once it is cancelled.
            if message.text == "slow", message.attempt == 1 { try? await Task.sleep(for: .seconds(30)) }
        }
        let retryAtOnce = Backoff(initial: .milliseconds(10), multiplier: 1, maximum: .milliseconds(10), jitter: 0)
        try await queue.publish("jobs", Array("slow".utf8), options: .init(timeout: .milliseconds(200), backoff: retryAtOnce))
        for index in 0..<3 { try await queue.publish("jobs", Array("next \(index)".utf8)) }
        #expect(try await waitUntil { runs.withLock { $0.count } >= 5 }, "not every job ran: \(runs.withLock { $0.map(\.text) })")
        let seen = runs.withLock { $0 }
        #expect(seen.count == 5, "\(seen.map(\.text))")
        #expect(seen.filter { $0.text == "slow" }.map(\.attempt) == [1, 2], "the timed-out job was not retried once")
        #expect(Set(seen.map(\.text)) == ["slow", "next 0", "next 1", "next 2"])
        #expect(seen.allSatisfy { !$0.cancelledAtStart }, "a handler started cancelled: \(seen.map { ($0.text, $0.cancelledAtStart) })")
        #expect(seen.allSatisfy { !$0.thread.hasPrefix("redis-") }, "a handler ran on a connection thread: \(seen.map(\.thread))")
        #expect(try await waitUntil { try await queue.counts("jobs") == QueueCounts() })
        await consumer.stop(drainTimeout: .seconds(1))
    }

    @Test func theConsumerReadsEveryStoredFormatAndPauseEndsItsBlockingRead() async throws {
        let app = appName("consumer-formats")
        let keys = RedisQueueKeys(appName: app, queue: "jobs")
        let queue = try await node(app, "reader")
        let client = try await makeClient()
        defer { Task { await queue.close(drainTimeout: .zero); await client.close() } }
        let received = Mutex<[QueueMessage]>([])
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 4)) { message in received.withLock { $0.append(message) } }
        // Read back from the consumer's XREADGROUP (decoded straight from hiredis's parse).
        let plain = try await queue.publish("jobs", Array("plain".utf8))
        let custom = QueuePublishOptions(maxAttempts: 5, timeout: .seconds(2),
                                         backoff: Backoff(initial: .milliseconds(5), multiplier: 3, maximum: .seconds(1), jitter: 0),
                                         headers: ["k": "v"])
        try await queue.publish("jobs", Array("custom".utf8), options: custom)
        // As earlier versions stored every entry: every field, default values included.
        let full = try await client.send(RedisCommand("XADD", keys.stream, "*", "body", "full", "headers", "{}", "attempt", "1", "maxAttempts", "3",
                                                      "timeout", "15000000000", "backoff", "100000000,2.0,30000000000,0.5"))
        let delayed = try await queue.publish("jobs", Array("delayed".utf8), options: .init(delay: .milliseconds(50)))
        #expect(try await waitUntil { received.withLock { $0.count } == 4 }, "handled \(received.withLock { $0.count }) of 4")
        let byBody = Dictionary(uniqueKeysWithValues: received.withLock { $0 }.map { ($0.text, $0) })
        let defaults = QueuePublishOptions()
        let first = try #require(byBody["plain"])
        #expect(first.id == plain && first.attempt == 1 && first.headers.isEmpty && first.maxAttempts == defaults.maxAttempts)
        #expect(first.timeout == defaults.timeout && first.backoff == defaults.backoff && first.publishedAtMilliseconds > 0)
        let second = try #require(byBody["custom"])
        #expect(second.maxAttempts == 5 && second.timeout == .seconds(2) && second.backoff == custom.backoff && second.headers == ["k": "v"])
        let third = try #require(byBody["full"])
        #expect(third.id.rawValue == String(decoding: try full.bytes() ?? [], as: UTF8.self) && third.maxAttempts == 3 && third.backoff == .standard)
        let fourth = try #require(byBody["delayed"])
        #expect(fourth.id == delayed && fourth.attempt == 1, "a delayed message keeps the ID its publish returned")

        // The consumer now blocks in XREADGROUP; pause ends that read (CLIENT UNBLOCK: a
        // null reply) and nothing is taken until resume.
        try await Task.sleep(for: .milliseconds(100))
        await consumer.pause()
        try await queue.publish("jobs", Array("after pause".utf8))
        try await Task.sleep(for: .milliseconds(300))
        #expect(received.withLock { $0.count } == 4, "a paused consumer took a message")
        await consumer.resume()
        #expect(try await waitUntil { received.withLock { $0.count } == 5 })
        #expect(try await waitUntil { try await queue.counts("jobs") == QueueCounts() }, "not every message was acknowledged")
        await consumer.stop(drainTimeout: .seconds(1))
    }

    /// `calls` per command from `INFO commandstats` (shared by the whole server: the suite
    /// runs serialized, and only differences are compared).
    private func commandCalls(_ client: RedisClient) async throws -> [String: Int] {
        let text = String(decoding: try await client.send(RedisCommand("INFO", "commandstats")).bytes() ?? [], as: UTF8.self)
        var calls: [String: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let parts = line.dropFirst("cmdstat_".count).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let field = parts[1].split(separator: ",").first(where: { $0.hasPrefix("calls=") }),
                  let value = Int(field.dropFirst("calls=".count)) else { continue }
            calls[String(parts[0])] = value
        }
        return calls
    }
}
