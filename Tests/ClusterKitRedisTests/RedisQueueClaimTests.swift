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

    private func waitUntil(_ timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
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
