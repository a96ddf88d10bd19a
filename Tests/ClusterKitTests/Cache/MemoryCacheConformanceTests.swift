import ClusterKit
import ClusterKitConformance
import Testing

/// A conformance target of memory cache nodes sharing one fresh backend.
func memoryCacheTarget(capabilities: Set<String> = [], maximumEntries: Int = 2000) -> ConformanceTarget<any CacheStore> {
    let backend = MemoryBackend()
    return ConformanceTarget(label: "memory", capabilities: capabilities) { options in
        MemoryCacheStore(backend: backend, appName: options.appName, nodeID: options.nodeID,
                         configuration: .init(maximumEntries: maximumEntries))
    }
}

@Suite("Memory cache conformance", .serialized)
struct MemoryCacheConformanceTests {
    @Test("memory cache passes", arguments: CacheConformance.suite.caseNames)
    func conformance(caseName: String) async {
        let result = await CacheConformance.suite.run(caseNamed: caseName, against: memoryCacheTarget())
        if CacheConformance.suite.cases.first(where: { $0.name == caseName })?.capability != nil {
            // The memory store declares no capability: such cases are skipped, never failed.
            #expect(result.status == .skipped, "\(result.line)")
        } else {
            expectPassed(result)
        }
    }

    /// The memory store has no local layer, so it trivially meets "two-level" (every read goes
    /// to the shared table); running the case against it proves the case itself works.
    @Test func twoLevelCaseRunsWhenDeclared() async {
        let target = memoryCacheTarget(capabilities: ["two-level"])
        expectPassed(await CacheConformance.suite.run(caseNamed: "cache.two-level-invalidation", against: target))
    }

    @Test func everyCapabilityCaseIsDocumented() {
        for testCase in CacheConformance.suite.cases {
            if let capability = testCase.capability {
                #expect(CacheConformance.suite.capabilities[capability] != nil, "\(testCase.name) needs undocumented \(capability)")
            }
            #expect(testCase.name.hasPrefix("cache."))
        }
        #expect(Set(CacheConformance.suite.caseNames).count == CacheConformance.suite.caseNames.count, "case names are unique")
    }
}
