import ClusterKit
import ClusterKitConformance
import Testing

/// The whole pub/sub conformance suite against the memory adapter, one test per case.
@Suite("MemoryPubSub conformance", .serialized)
struct MemoryPubSubConformanceTests {
    /// Nodes on one fresh backend per case.
    static func target(_ backend: MemoryBackend = MemoryBackend()) -> ConformanceTarget<any PubSub> {
        ConformanceTarget(label: "memory") { options in
            MemoryPubSub(backend: backend, appName: options.appName, nodeID: options.nodeID)
        }
    }

    @Test(arguments: PubSubConformance.suite.caseNames)
    func conformance(caseName: String) async {
        let result = await PubSubConformance.suite.run(caseNamed: caseName, against: Self.target())
        expectPassed(result)
    }

    @Test func caseNamesAreUniqueAndNamespaced() {
        let names = Set(PubSubConformance.suite.caseNames)
        #expect(names.count == PubSubConformance.suite.caseNames.count, "case names must be unique")
        for name in names { #expect(name.hasPrefix("pubsub."), "\(name) is not in the pubsub namespace") }
        #expect(PubSubConformance.suite.capabilities["durable"] != nil)
    }
}
