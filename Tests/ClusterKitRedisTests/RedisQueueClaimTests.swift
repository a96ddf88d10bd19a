import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation
import Synchronization
import Testing

/// The claims of the entries a Redis consumer holds: renewed while it holds them (running,
/// or read ahead and not started), and given back at once by its stop when not started.
@Suite("Redis queue: claims of held entries", .serialized)
struct RedisQueueClaimTests {
    private func node(_ appName: String, _ nodeID: String) async throws -> RedisMessageQueue {
        RedisMessageQueue(client: try await makeClient(), appName: appName, nodeID: NodeID(nodeID))
    }

    final class Seen: Sendable {
        private let values = Mutex<[(text: String, attempt: Int, at: ContinuousClock.Instant)]>([])
        func append(_ message: QueueMessage) {
            values.withLock { $0.append((String(decoding: message.body, as: UTF8.self), message.attempt, .now)) }
        }
        var all: [(text: String, attempt: Int, at: ContinuousClock.Instant)] { values.withLock { $0 } }
    }

    /// Concurrency 1: the first job blocks its only worker, the second is read ahead. The stop
    /// gives the second back: another node's consumer runs it at once (long before the
    /// visibility timeout) as attempt 1, while the abandoned first one stays claimed.
    @Test func aStopGivesBackWhatWasReadAheadAtOnceAndWithoutCountingAnAttempt() async throws {
        let app = uniquePrefix("read-ahead").replacingOccurrences(of: ":", with: "")
        let options = QueueConsumerOptions(concurrency: 1, visibilityTimeout: .seconds(30))
        let first = try await node(app, "worker-1")
        let started = Atomic<Int>(0)
        let consumer = try await first.consume("jobs", options: options) { _ in
            started.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(60))
        }
        for index in 0..<2 { try await first.publish("jobs", Array("job \(index)".utf8), options: .init(timeout: .seconds(120))) }
        #expect(try await waitUntil { started.load(ordering: .relaxed) == 1 })
        // Both entries are this consumer's now: one running, one read ahead.
        let held = try await waitUntil { try await first.counts("jobs").inFlight == 2 }
        let counts = try await first.counts("jobs")
        #expect(held, "\(counts)")
        try await Task.sleep(for: .milliseconds(100))
        #expect(started.load(ordering: .relaxed) == 1, "the entry read ahead ran beside the busy handler")
        await consumer.stop(drainTimeout: .milliseconds(100))

        let other = try await node(app, "worker-2")
        let seen = Seen()
        let begun = ContinuousClock.now
        let otherConsumer = try await other.consume("jobs", options: options) { seen.append($0) }
        #expect(try await waitUntil(.seconds(10)) { seen.all.count >= 1 }, "the entry read ahead was not given back")
        try await Task.sleep(for: .milliseconds(300))
        let values = seen.all
        #expect(values.map(\.text) == ["job 1"], "\(values)")
        #expect(values.first?.attempt == 1, "giving back counted an attempt: \(values)")
        #expect(values.allSatisfy { $0.at - begun < .seconds(15) }, "given back only after about the visibility timeout")
        await otherConsumer.stop(drainTimeout: .seconds(1))
        await other.close(drainTimeout: .zero)
        await first.close(drainTimeout: .zero)
    }

    /// Concurrency 1: the first job holds the only worker, the second is read ahead. Once
    /// `pause()` (or, in the second case, a closed gate) stopped this consumer, no handler
    /// starts here any more, also when the busy one returns: the entry read ahead was given
    /// back, and another node runs it soon, as attempt 1.
    @Test(arguments: ["pause", "gate"])
    func nothingReadAheadStartsOnceTheConsumerIsPausedOrGated(_ how: String) async throws {
        let app = uniquePrefix("read-ahead-\(how)").replacingOccurrences(of: ":", with: "")
        let gateOpen = Atomic<Bool>(true)
        let gate: (@Sendable () -> Bool)? = how == "gate" ? { @Sendable in gateOpen.load(ordering: .relaxed) } : nil
        let options = QueueConsumerOptions(concurrency: 1, gate: gate, visibilityTimeout: .seconds(30), gateInterval: .milliseconds(50))
        let first = try await node(app, "worker-1")
        let release = Atomic<Bool>(false)
        let ranHere = Seen()
        let consumer = try await first.consume("jobs", options: options) { message in
            ranHere.append(message)
            while !release.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
        }
        for index in 0..<2 { try await first.publish("jobs", Array("job \(index)".utf8), options: .init(timeout: .seconds(60))) }
        let held = try await waitUntil { try await first.counts("jobs").inFlight == 2 && ranHere.all.count == 1 }
        #expect(held, "the second entry was not read ahead: \(ranHere.all)")

        if how == "pause" {
            await consumer.pause()
        } else {
            gateOpen.store(false, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(300))  // several gate intervals
        }
        release.store(true, ordering: .relaxed)
        // The first job finishes and is acknowledged; the one read ahead must not start here.
        #expect(try await waitUntil { try await first.counts("jobs").inFlight == 1 }, "the first job was not acknowledged")
        try await Task.sleep(for: .milliseconds(300))
        #expect(ranHere.all.map(\.text) == ["job 0"], "a handler started after the consumer was \(how)d: \(ranHere.all)")

        let other = try await node(app, "worker-2")
        let ranThere = Seen()
        let begun = ContinuousClock.now
        let otherConsumer = try await other.consume("jobs", options: QueueConsumerOptions(concurrency: 1, visibilityTimeout: .seconds(30))) {
            ranThere.append($0)
        }
        #expect(try await waitUntil { ranThere.all.count == 1 }, "the entry read ahead was not given back")
        #expect(ranThere.all.map(\.text) == ["job 1"] && ranThere.all.allSatisfy { $0.attempt == 1 }, "\(ranThere.all)")
        #expect(ranThere.all.allSatisfy { $0.at - begun < .seconds(15) }, "given back only after about the visibility timeout")
        #expect(ranHere.all.count == 1, "\(ranHere.all)")
        await otherConsumer.stop(drainTimeout: .seconds(1))
        await consumer.stop(drainTimeout: .seconds(1))
        await other.close(drainTimeout: .zero)
        await first.close(drainTimeout: .zero)
    }

    /// An entry read ahead is this consumer's like a running one: its claim is renewed, so
    /// another node's takeover does not take it while it waits (far past the visibility
    /// timeout) for the busy worker; then it runs here, as attempt 1.
    @Test func anEntryReadAheadKeepsItsClaimWhileItWaits() async throws {
        let app = uniquePrefix("read-ahead-claim").replacingOccurrences(of: ":", with: "")
        let options = QueueConsumerOptions(concurrency: 1, visibilityTimeout: .milliseconds(600))
        let first = try await node(app, "worker-1")
        let other = try await node(app, "worker-2")
        let ranHere = Seen()
        let consumer = try await first.consume("jobs", options: options) { message in
            ranHere.append(message)
            if message.body == Array("job 0".utf8) { try? await Task.sleep(for: .seconds(2)) }
        }
        for index in 0..<2 { try await first.publish("jobs", Array("job \(index)".utf8), options: .init(timeout: .seconds(10))) }
        let held = try await waitUntil { try await first.counts("jobs").inFlight == 2 && ranHere.all.count == 1 }
        #expect(held, "the second entry was not read ahead")
        let ranThere = Seen()
        let otherConsumer = try await other.consume("jobs", options: options) { ranThere.append($0) }
        #expect(try await waitUntil { ranHere.all.count == 2 }, "the entry read ahead never ran: \(ranHere.all)")
        #expect(ranThere.all.isEmpty, "another node took over an entry read ahead: \(ranThere.all)")
        #expect(ranHere.all.map(\.text) == ["job 0", "job 1"] && ranHere.all.allSatisfy { $0.attempt == 1 }, "\(ranHere.all)")
        await otherConsumer.stop(drainTimeout: .seconds(1))
        await consumer.stop(drainTimeout: .seconds(1))
        await other.close(drainTimeout: .zero)
        await first.close(drainTimeout: .zero)
    }

    /// Every entry a consumer holds has its claim renewed, not only the first of a renewal:
    /// two handlers running far past the visibility timeout keep both entries (the renewal
    /// script once passed only the first ID to `XCLAIM`: Lua's `unpack` in the middle of an
    /// argument list gives one value).
    @Test func twoLongHandlersKeepBothClaims() async throws {
        let app = uniquePrefix("renew-all").replacingOccurrences(of: ":", with: "")
        let options = QueueConsumerOptions(concurrency: 2, visibilityTimeout: .milliseconds(600))
        let first = try await node(app, "worker-1")
        let other = try await node(app, "worker-2")
        let ranHere = Seen()
        let consumer = try await first.consume("jobs", options: options) { message in
            ranHere.append(message)
            try? await Task.sleep(for: .seconds(2))
        }
        for index in 0..<2 { try await first.publish("jobs", Array("job \(index)".utf8), options: .init(timeout: .seconds(10))) }
        #expect(try await waitUntil { ranHere.all.count == 2 }, "both handlers did not start")
        let ranThere = Seen()
        let otherConsumer = try await other.consume("jobs", options: options) { ranThere.append($0) }
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(ranThere.all.isEmpty, "another node took over a running entry: \(ranThere.all)")
        #expect(try await waitUntil { try await first.counts("jobs") == QueueCounts() }, "the jobs were not acknowledged")
        await otherConsumer.stop(drainTimeout: .seconds(1))
        await consumer.stop(drainTimeout: .seconds(1))
        await other.close(drainTimeout: .zero)
        await first.close(drainTimeout: .zero)
    }
}
