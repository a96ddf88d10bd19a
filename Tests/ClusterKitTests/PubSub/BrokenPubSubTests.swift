import ClusterKit
import ClusterKitConformance
import Testing

/// Each deliberate defect is caught by the case written for it, and the faithful wrapper
/// passes everything (so the failures come from the defects, not from the wrapping).
@Suite("Broken PubSub adapters")
struct BrokenPubSubTests {
    static func target(_ flaw: BrokenPubSub.Flaw) -> ConformanceTarget<any PubSub> {
        let backend = MemoryBackend()
        return ConformanceTarget(label: "broken-\(flaw)") { options in
            BrokenPubSub(flaw: flaw, backend: backend, appName: options.appName, nodeID: options.nodeID)
        }
    }

    /// The cases that must fail for each defect.
    static let caught: [BrokenPubSub.Flaw: [String]] = [
        .ignoresSkipSelf: ["pubsub.skip-self"],
        .ignoresOnlySelf: ["pubsub.only-self"],
        .deliversTwice: ["pubsub.ordered-delivery", "pubsub.fan-out", "pubsub.two-subscriptions-one-copy-each"],
        .reorders: ["pubsub.ordered-delivery", "pubsub.concurrent-channels"],
        .ignoresDebounce: ["pubsub.debounce-collapses-burst", "pubsub.debounce-keeps-distinct-payloads"],
        .debouncesByChannelOnly: ["pubsub.debounce-keeps-distinct-payloads"],
        .ignoresAppName: ["pubsub.app-isolation"],
        .keepsDeliveringAfterClose: ["pubsub.no-delivery-after-close", "pubsub.close-during-delivery", "pubsub.close-is-final"],
        .truncatesLargePayloads: ["pubsub.large-payload"],
        .textOnlyPayloads: ["pubsub.binary-payload"],
        .acceptsAnyChannel: ["pubsub.invalid-channel"],
        .duplicateSubscriptionsDoubleDeliver: ["pubsub.two-subscriptions-one-copy-each"],
    ]

    @Test(arguments: BrokenPubSub.Flaw.allCases.filter { $0 != .none })
    func defectIsCaught(flaw: BrokenPubSub.Flaw) async throws {
        let cases = try #require(Self.caught[flaw], "no expectation for \(flaw)")
        // Concurrently: several of these fail only by a wait running out.
        let results = await withTaskGroup(of: ConformanceResult.self) { group in
            for name in cases {
                group.addTask { await PubSubConformance.suite.run(caseNamed: name, against: Self.target(flaw)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for result in results {
            expectFailed(result)
        }
    }

    @Test(arguments: PubSubConformance.suite.caseNames)
    func faithfulWrapperPasses(caseName: String) async {
        expectPassed(await PubSubConformance.suite.run(caseNamed: caseName, against: Self.target(.none)))
    }
}
