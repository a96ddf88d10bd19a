import ClusterKit
import ClusterKitConformance
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Testing

/// Builds RabbitMQ queue nodes against the shared test broker.
func makeRabbitMQNode(appName: String, nodeID: NodeID = NodeID("node-\(UInt32.random(in: 0 ... .max))")) async throws -> RabbitMQMessageQueue {
    let broker = try await RabbitMQBroker.shared()
    let settings = RabbitMQConnectionSettings(url: try AMQPURL(parsing: broker.url()))
    return try await RabbitMQMessageQueue(settings: settings, appName: appName, nodeID: nodeID)
}

@Suite("Queue conformance: RabbitMQ adapter", .serialized)
struct RabbitMQQueueConformanceTests {
    @Test(arguments: QueueConformance.suite.caseNames)
    func rabbitMQAdapterPasses(_ name: String) async throws {
        let target = ConformanceTarget<any MessageQueue>(label: "rabbitmq", capabilities: ["durable"]) { options in
            try await makeRabbitMQNode(appName: options.appName, nodeID: options.nodeID)
        }
        let result = await QueueConformance.suite.run(caseNamed: name, against: target)
        #expect(result.status == .passed, "\(result.line)")
    }
}
