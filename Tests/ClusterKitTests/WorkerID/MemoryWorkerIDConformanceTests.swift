import ClusterKit
import ClusterKitConformance
import Testing

/// A conformance target of memory nodes on a fresh backend, with the short lease TTL the
/// suite requires.
func memoryWorkerIDTarget(leaseTTL: Duration = .milliseconds(400), maximumWorkerID: Int = 31) -> ConformanceTarget<any WorkerIDAllocator> {
    let backend = MemoryBackend()
    return ConformanceTarget(label: "memory") { options in
        MemoryWorkerIDAllocator(backend: backend, appName: options.appName, nodeID: options.nodeID,
                                configuration: .init(maximumWorkerID: maximumWorkerID, leaseTTL: leaseTTL))
    }
}

// Serialized: several cases measure real time against a short TTL; running them beside the
// CPU-heavy snowflake cases on a small machine would only add noise.
@Suite("Worker-ID conformance: memory", .serialized)
struct MemoryWorkerIDConformanceTests {
    @Test(arguments: WorkerIDConformance.suite.caseNames)
    func memoryAdapterPasses(_ caseName: String) async {
        expectPassed(await WorkerIDConformance.suite.run(caseNamed: caseName, against: memoryWorkerIDTarget()))
    }

    @Test func suiteHasAStableCaseList() {
        let names = WorkerIDConformance.suite.caseNames
        #expect(Set(names).count == names.count, "duplicate case names: \(names)")
        #expect(names.allSatisfy { $0.hasPrefix("workerid.") })
        #expect(names.count == 17)
    }

    @Test func aLargerRangeAlsoPasses() async {
        let target = memoryWorkerIDTarget(maximumWorkerID: 63)
        for name in ["workerid.exhaustion", "workerid.snowflake-parse", "workerid.snowflake-sequence-overflow-waits"] {
            expectPassed(await WorkerIDConformance.suite.run(caseNamed: name, against: target))
        }
    }

    @Test func aLongTTLFailsTheTimedCasesAtOnce() async {
        let target = memoryWorkerIDTarget(leaseTTL: .seconds(30))
        let result = await WorkerIDConformance.suite.run(caseNamed: "workerid.expiry-frees-id", against: target)
        expectFailed(result)
        #expect(result.message?.contains("lease TTL of at most") == true, "\(result.line)")
        #expect(result.milliseconds < 5_000)
    }
}
