import ClusterKit
@testable import ClusterKitRabbitMQ
import Logging
import Synchronization
import Testing

/// ``RabbitMQPublisher/close()`` called by several callers at once.
@Suite("RabbitMQ publisher close")
struct RabbitMQPublisherCloseTests {
    final class Codes: Sendable {
        let publish = Mutex<RabbitMQError.Code?>(nil)
        let closedAfterClose = Mutex<[Bool]>([])
    }

    /// A publisher that cannot connect (nothing listens on port 1) keeps its publish
    /// waiting; two concurrent closes must both return only once the close is done,
    /// whichever of them started it, and the publish fails with `closed`.
    @Test func everyCallerOfCloseWaitsForTheSameClose() async throws {
        var settings = RabbitMQConnectionSettings(url: try AMQPURL(parsing: "amqp://guest:guest@127.0.0.1:1/%2f"))
        settings.connectTimeout = .seconds(1)
        let publisher = RabbitMQPublisher(settings: settings, label: "close-test", logger: Logger(label: "test"))
        let codes = Codes()
        let publishing = Task {
            do {
                let message = AMQPOutgoing(exchange: "", routingKey: "nowhere", mandatory: true, messageID: "m1", headers: [], body: [1])
                try await publisher.publish(message, topology: RabbitMQQueueTopology(appName: "close-test", queue: "q"), delays: false)
            } catch let error as RabbitMQError {
                codes.publish.withLock { $0 = error.code }
            } catch {}
        }
        // Let the pump take the publish and fail a connect attempt or two.
        try await Task.sleep(for: .milliseconds(100))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    await publisher.close()
                    let closed = publisher.isClosed
                    codes.closedAfterClose.withLock { $0.append(closed) }
                }
            }
        }
        await publishing.value
        #expect(codes.closedAfterClose.withLock { $0 } == [true, true])
        #expect(codes.publish.withLock { $0 } == .closed)
        // A close after the close returns at once.
        await publisher.close()
    }
}
