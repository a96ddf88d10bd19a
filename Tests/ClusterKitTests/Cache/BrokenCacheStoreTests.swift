import ClusterKit
import ClusterKitConformance
import Testing

/// Each deliberately broken adapter fails the case written for its defect, while the
/// correct memory store passes that same case (see ``MemoryCacheConformanceTests``).
@Suite("Cache conformance catches broken adapters")
struct BrokenCacheStoreTests {
    @Test(arguments: BrokenCacheStore.Flaw.allCases)
    func brokenAdapterFailsItsCase(flaw: BrokenCacheStore.Flaw) async {
        let result = await CacheConformance.suite.run(caseNamed: flaw.failingCase, against: BrokenCacheStore.target(flaw))
        expectFailed(result)
    }

    @Test(arguments: BrokenCacheStore.Flaw.allCases)
    func theSameCasePassesOnTheCorrectStore(flaw: BrokenCacheStore.Flaw) async {
        let capabilities: Set<String> = flaw == .staleLocalCopies ? ["two-level"] : []
        expectPassed(await CacheConformance.suite.run(caseNamed: flaw.failingCase, against: memoryCacheTarget(capabilities: capabilities)))
    }
}
