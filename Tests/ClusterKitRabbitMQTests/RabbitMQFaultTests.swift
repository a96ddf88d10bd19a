import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Synchronization
import Testing

/// Connection failures, broker restarts and killed consumers against the shared broker.
@Suite("RabbitMQ faults", .serialized)
struct RabbitMQFaultTests {
    final class Seen: Sendable {
        let values = Mutex<[(id: String, attempt: Int)]>([])
        func add(_ message: QueueMessage) { values.withLock { $0.append((message.id.rawValue, message.attempt)) } }
        var count: Int { values.withLock { $0.count } }
    }

    final class IDs: Sendable {
        let values = Mutex<[String]>([])
        func add(_ id: String) { values.withLock { $0.append(id) } }
    }

    final class Flag: Sendable {
        let value = Mutex(false)
    }

    func settings(_ text: String) throws -> RabbitMQConnectionSettings {
        var settings = RabbitMQConnectionSettings(url: try AMQPURL(parsing: text))
        settings.connectTimeout = .seconds(2)
        return settings
    }

    func connectError(_ url: String) async throws -> RabbitMQError {
        do {
            let node = try await RabbitMQMessageQueue(settings: settings(url), appName: "faults", nodeID: NodeID("f"))
            await node.close()
        } catch let error as RabbitMQError {
            return error
        }
        Issue.record("connecting to \(url) succeeded")
        return RabbitMQError(code: .closed, message: "")
    }

    @Test func wrongPasswordIsTypedAndHidden() async throws {
        let broker = try await RabbitMQBroker.shared()
        try broker.addUser("ck-user", password: "right-pass")
        let start = ContinuousClock.now
        let error = try await connectError(broker.url(user: "ck-user", password: "wrong-s3cret"))
        #expect(error.code == .authenticationFailed, "\(error)")
        #expect(!error.description.contains("wrong-s3cret"))
        #expect(ContinuousClock.now - start < .seconds(10))
        let node = try await RabbitMQMessageQueue(settings: settings(broker.url(user: "ck-user", password: "right-pass")), appName: "faults", nodeID: NodeID("ok"))
        try await node.checkHealth()
        await node.close()
    }

    @Test func unknownVirtualHostIsTyped() async throws {
        let broker = try await RabbitMQBroker.shared()
        let error = try await connectError(broker.url(vhost: "no-such-vhost"))
        #expect(error.code == .unknownVirtualHost, "\(error)")
        #expect(!error.description.contains("guest@"))
    }

    @Test func unreachableHostFailsWithinTimeout() async throws {
        let start = ContinuousClock.now
        let error = try await connectError("amqp://guest:hidden-pw@127.0.0.1:1/%2f")
        #expect(error.code == .connectionFailed, "\(error)")
        #expect(!error.description.contains("hidden-pw"))
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func brokerRestartMidStreamLosesNoConfirmedPublish() async throws {
        let broker = try await RabbitMQBroker.shared()
        let app = "durable-\(UInt32.random(in: 0 ... .max))"
        let producer = try await makeRabbitMQNode(appName: app)
        let returned = IDs()
        let publishing = Task {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(index * 5))
                        if let id = try? await producer.publish("jobs", Array("m\(index)".utf8), options: .init(maxAttempts: 5)) {
                            returned.add(id.rawValue)
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        try await broker.restart()
        await publishing.value
        let confirmed = returned.values.withLock { $0 }
        #expect(confirmed.count > 100, "only \(confirmed.count) publishes returned")

        let consumerNode = try await makeRabbitMQNode(appName: app)
        let seen = Seen()
        let consumer = try await consumerNode.consume("jobs", options: .init(concurrency: 8)) { seen.add($0) }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            let ids = Set(seen.values.withLock { $0.map(\.id) })
            if Set(confirmed).isSubset(of: ids) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await consumer.stop(drainTimeout: .seconds(2))
        let values = seen.values.withLock { $0 }
        let handled = Set(values.map(\.id))
        #expect(Set(confirmed).subtracting(handled).isEmpty, "confirmed publishes never processed: \(Set(confirmed).subtracting(handled).count)")
        var firstAttempts: [String: Int] = [:]
        for value in values where value.attempt == 1 { firstAttempts[value.id, default: 0] += 1 }
        #expect(firstAttempts.values.allSatisfy { $0 <= 1 }, "a message was processed twice as attempt 1")
        await producer.close()
        await consumerNode.close()
    }

    @Test func consumerWhoseConnectionIsClosedMidHandlerLosesItsMessage() async throws {
        let broker = try await RabbitMQBroker.shared()
        let app = "killed-\(UInt32.random(in: 0 ... .max))"
        let victim = try await makeRabbitMQNode(appName: app)
        let started = Flag()
        let seen = Seen()
        // The victim's consumer reconnects and may take the redelivery itself: both record.
        let hung = try await victim.consume("jobs", options: .init(visibilityTimeout: .seconds(60))) { message in
            if started.value.withLock({ $0 }) { seen.add(message) }
            started.value.withLock { $0 = true }
            try await Task.sleep(for: .seconds(120))
        }
        let id = try await victim.publish("jobs", Array("job".utf8), options: .init(timeout: .seconds(120)))
        while !started.value.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        try broker.closeAllConnections()
        let survivor = try await makeRabbitMQNode(appName: app)
        let consumer = try await survivor.consume("jobs") { seen.add($0) }
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while seen.count == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let values = seen.values.withLock { $0 }
        #expect(values.map(\.id) == [id.rawValue])
        #expect(values.map(\.attempt) == [2])
        await consumer.stop(drainTimeout: .seconds(1))
        await hung.stop(drainTimeout: .zero)
        await victim.close(drainTimeout: .zero)
        await survivor.close()
    }
}
