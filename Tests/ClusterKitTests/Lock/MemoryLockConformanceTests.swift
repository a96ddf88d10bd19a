import ClusterKit
import ClusterKitConformance
import Testing

@Suite("Memory lock conformance", .serialized)
struct MemoryLockConformanceTests {
    @Test(arguments: LockConformance.suite.caseNames)
    func memoryLockPasses(_ caseName: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any DistributedLock>(label: "memory") { options in
            MemoryLock(backend: backend, appName: options.appName, nodeID: options.nodeID)
        }
        expectPassed(await LockConformance.suite.run(caseNamed: caseName, against: target))
    }

    @Test func everyChecklistAreaHasCases() {
        let names = Set(LockConformance.suite.caseNames)
        #expect(names.count == LockConformance.suite.caseNames.count, "case names must be unique")
        for name in names { #expect(name.hasPrefix("lock."), "\(name) must start with 'lock.'") }
        #expect(LockConformance.suite.cases.allSatisfy { $0.capability == nil })
    }

    @Test func registryBuildsTheMemoryLockUnderBothNames() async throws {
        var registry = AdapterRegistry()
        registry.registerMemoryLock()
        #expect(registry.names(for: .lock) == ["local", "memory"])
        #expect(try registry.registration(for: .lock, named: "local", variable: "LOCK_ADAPTER").name == "memory")
    }
}
