import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Logging
import Synchronization
import Testing

/// Keeps the log lines of one adapter, with when they were logged.
final class LogCapture: Sendable {
    private let lines = Mutex<[(at: ContinuousClock.Instant, text: String)]>([])

    func add(_ text: String) { lines.withLock { $0.append((ContinuousClock.now, text)) } }

    /// The first line logged after `start` that contains `needle` (case-insensitive).
    func first(containing needle: String, after start: ContinuousClock.Instant) -> (at: ContinuousClock.Instant, text: String)? {
        lines.withLock { $0.first { $0.at >= start && $0.text.lowercased().contains(needle) } }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.add("\(event.message) \(event.metadata ?? [:])")
    }
}

/// A broker that stops answering (its VM suspended with SIGSTOP: sockets open, nothing sent,
/// no heartbeats) must be noticed through missed heartbeats, not hang the adapter.
@Suite("RabbitMQ heartbeats", .serialized)
struct RabbitMQHeartbeatTests {
    @Test func silentBrokerIsDetectedByMissedHeartbeatsAndTheNodeRecovers() async throws {
        let broker = try await RabbitMQBroker.shared()
        let capture = LogCapture()
        let logger = Logger(label: "heartbeat-test") { _ in CapturingLogHandler(capture: capture) }
        var settings = RabbitMQConnectionSettings(url: try AMQPURL(parsing: broker.url() + "?heartbeat=2"))
        settings.connectTimeout = .seconds(2)
        let node = try await RabbitMQMessageQueue(settings: settings, appName: "heartbeat-\(UInt32.random(in: 0 ... .max))",
                                                  nodeID: NodeID("hb"), logger: logger)
        let seen = RabbitMQFaultTests.Seen()
        let consumer = try await node.consume("jobs") { seen.add($0) }
        try await node.publish("jobs", Array("before".utf8))
        var deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while seen.count < 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(seen.count == 1, "the message published before the freeze was not handled")

        let frozenAt = ContinuousClock.now
        try broker.freeze()
        var detected: (at: ContinuousClock.Instant, text: String)?
        do {
            deadline = frozenAt.advanced(by: .seconds(15))
            while ContinuousClock.now < deadline {
                detected = capture.first(containing: "consumer connection lost", after: frozenAt)
                if let line = detected, line.text.lowercased().contains("heartbeat") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            try broker.thaw()
            throw error
        }
        try broker.thaw()
        let line = try #require(detected, "no lost connection was logged within 15 s of silencing the broker (heartbeat 2 s)")
        #expect(line.text.lowercased().contains("heartbeat"), "the connection was dropped, but not for missed heartbeats: \(line.text)")
        // 2 missed heartbeat periods (4 s) plus scheduling; a generous bound, far below a TCP timeout.
        #expect(line.at - frozenAt < .seconds(9), "a silent broker took \(line.at - frozenAt) to notice with a 2 s heartbeat")
        print("heartbeat 2 s: silent broker detected after \(line.at - frozenAt)")

        // After the thaw the node reconnects and works again.
        try await node.publish("jobs", Array("after".utf8))
        deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while seen.count < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(seen.count >= 2, "the message published after the thaw was not handled")
        await consumer.stop(drainTimeout: .seconds(1))
        await node.close()
    }
}
