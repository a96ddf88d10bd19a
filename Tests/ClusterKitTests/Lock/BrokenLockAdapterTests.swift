import ClusterKit
import ClusterKitConformance
import Testing

/// Each broken lock must fail the conformance cases that exist to catch its bug.
@Suite("Broken lock adapters are caught")
struct BrokenLockAdapterTests {
    static let expectedFailures: [(BrokenLock, String)] = [
        (.releasesAnyone, "lock.non-owner-release-refused"),
        (.releasesAnyone, "lock.late-release"),
        (.releasesAnyone, "lock.release-idempotent"),
        (.constantFencing, "lock.fencing-increases"),
        (.constantFencing, "lock.mutual-exclusion"),
        (.ignoresTTL, "lock.ttl-frees-lock"),
        (.ignoresTTL, "lock.late-release"),
        (.leaksCancelledWaiters, "lock.cancelled-waiter-leaves-nothing"),
        (.noExclusion, "lock.second-owner-blocked"),
        (.noExclusion, "lock.mutual-exclusion"),
    ]

    @Test(arguments: expectedFailures)
    func brokenAdapterFailsItsCase(_ bug: BrokenLock, _ caseName: String) async {
        let result = await LockConformance.suite.run(caseNamed: caseName, against: bug.target())
        expectFailed(result)
    }

    /// The wrappers are otherwise faithful: each passes a case its bug does not touch.
    @Test(arguments: BrokenLock.allCases.filter { $0 != .noExclusion })
    func brokenAdapterStillPassesUnrelatedCases(_ bug: BrokenLock) async {
        expectPassed(await LockConformance.suite.run(caseNamed: "lock.acquire-release", against: bug.target()))
    }
}
