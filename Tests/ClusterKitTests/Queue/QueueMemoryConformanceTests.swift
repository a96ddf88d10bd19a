import ClusterKit
import ClusterKitConformance
import Testing

@Suite("Queue conformance: memory adapter", .serialized)
struct QueueMemoryConformanceTests {
    @Test(arguments: QueueConformance.suite.caseNames)
    func memoryAdapterPasses(_ name: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any MessageQueue>(label: "memory") { options in
            MemoryMessageQueue(backend: backend, appName: options.appName, nodeID: options.nodeID)
        }
        expectPassed(await QueueConformance.suite.run(caseNamed: name, against: target))
    }

    @Test func caseNamesAreUniqueAndCapabilitiesDocumented() {
        let names = QueueConformance.suite.caseNames
        #expect(Set(names).count == names.count, "case names must be unique")
        #expect(names.allSatisfy { $0.hasPrefix("queue.") })
        #expect(QueueConformance.suite.capabilities.keys.sorted() == ["durable"])
    }
}
