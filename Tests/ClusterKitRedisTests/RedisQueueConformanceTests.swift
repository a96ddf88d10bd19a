import ClusterKit
import ClusterKitConformance
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Testing

extension RedisTargets {
    /// Queue nodes: each its own client (pool of 2) and its own blocking-read connections.
    static func queue() -> ConformanceTarget<any MessageQueue> {
        ConformanceTarget(label: "redis", capabilities: ["durable"]) { options in
            RedisMessageQueue(client: try await makeClient(), appName: options.appName, nodeID: options.nodeID)
        }
    }
}

@Suite("Redis queue conformance", .serialized)
struct RedisQueueConformanceTests {
    @Test(arguments: QueueConformance.suite.caseNames)
    func redisQueuePasses(_ caseName: String) async {
        expectPassed(await QueueConformance.suite.run(caseNamed: caseName, against: RedisTargets.queue()))
    }
}
