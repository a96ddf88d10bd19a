import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Synchronization
import Testing

/// The cluster-wide in-flight count with the push consumer's weighted markers (decimal
/// digits of its held count on `…:inflight`, `…:inflight:1e1`, …), read from another node.
@Suite("RabbitMQ in-flight counts", .serialized)
struct RabbitMQInFlightCountTests {
    final class Gate: Sendable {
        let open = Mutex(false)
        let started = Atomic<Int>(0)
    }

    /// Polls `node`'s counts until `matches` holds or 20 s passed; returns the last counts.
    func counts(_ node: RabbitMQMessageQueue, _ queue: String, until matches: (QueueCounts) -> Bool) async throws -> QueueCounts {
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        var last = try await node.counts(queue)
        while !matches(last), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            last = try await node.counts(queue)
        }
        return last
    }

    @Test func anotherNodeSeesEveryHeldMessageAndNoneOnceTheyAreDone() async throws {
        let app = "inflight-\(UInt32.random(in: 0 ... .max))"
        let holder = try await makeRabbitMQNode(appName: app)
        let observer = try await makeRabbitMQNode(appName: app)
        let gate = Gate()
        // 123 held messages need markers of three weights (3 × 1, 2 × 10, 1 × 100).
        let held = 123
        let consumer = try await holder.consume("jobs", options: .init(concurrency: held)) { _ in
            gate.started.add(1, ordering: .relaxed)
            while !gate.open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        }
        for index in 0..<held {
            _ = try await holder.publish("jobs", Array("job-\(index)".utf8), options: .init(timeout: .seconds(120)))
        }
        let holding = try await counts(observer, "jobs") { $0.inFlight == held }
        #expect(holding.inFlight == held, "in flight while \(held) handlers hold their messages: \(holding)")
        #expect(holding.waiting == 0)
        #expect(gate.started.load(ordering: .relaxed) == held)
        gate.open.withLock { $0 = true }
        let done = try await counts(observer, "jobs") { $0.inFlight == 0 }
        #expect(done == QueueCounts(), "counts once every handler returned: \(done)")
        await consumer.stop(drainTimeout: .seconds(5))
        await holder.close()
        await observer.close()
    }

    @Test func heldMessagesLeaveTheCountWhenTheHoldingConsumerStops() async throws {
        let app = "inflight-stop-\(UInt32.random(in: 0 ... .max))"
        let holder = try await makeRabbitMQNode(appName: app)
        let observer = try await makeRabbitMQNode(appName: app)
        let held = 27
        let consumer = try await holder.consume("jobs", options: .init(concurrency: held)) { _ in
            try await Task.sleep(for: .seconds(120))
        }
        for index in 0..<held {
            _ = try await holder.publish("jobs", Array("job-\(index)".utf8), options: .init(timeout: .seconds(120)))
        }
        let holding = try await counts(observer, "jobs") { $0.inFlight == held }
        #expect(holding.inFlight == held, "\(holding)")
        // Stopping without a drain abandons the handlers: the connection closes, the broker
        // requeues the messages and the markers vanish with it.
        await consumer.stop(drainTimeout: .zero)
        let after = try await counts(observer, "jobs") { $0.inFlight == 0 && $0.waiting == held }
        #expect(after.inFlight == 0, "\(after)")
        #expect(after.waiting == held, "\(after)")
        _ = try await observer.purge("jobs")
        await holder.close(drainTimeout: .zero)
        await observer.close()
    }
}
