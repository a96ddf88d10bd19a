import ClusterKit
import ClusterKitConformance
import Testing

/// Deliberately broken adapters must fail the case that covers their defect: proof that the
/// cases can fail.
@Suite("Queue conformance: broken adapters")
struct QueueBrokenAdapterTests {
    struct Expectation: Sendable, CustomTestStringConvertible {
        let defect: BrokenQueue.Defect
        let caseName: String
        var testDescription: String { "\(defect) fails \(caseName)" }
    }

    static let expectations: [Expectation] = [
        .init(defect: .acknowledgeDoesNothing, caseName: "queue.ack-removes-message"),
        .init(defect: .acknowledgeDoesNothing, caseName: "queue.handler-success-acks"),
        .init(defect: .rejectDropsMessage, caseName: "queue.retry-after-backoff"),
        .init(defect: .rejectDropsMessage, caseName: "queue.reject-redelivers"),
        .init(defect: .rejectDropsMessage, caseName: "queue.dead-letter-after-max-attempts"),
        .init(defect: .extendDoesNothing, caseName: "queue.extend-visibility-keeps-claim"),
        .init(defect: .extendDoesNothing, caseName: "queue.live-claim-not-stolen"),
        .init(defect: .ignoresGate, caseName: "queue.gate-pauses-pulling"),
        .init(defect: .unboundedConcurrency, caseName: "queue.concurrency-bound"),
    ]

    static func target(_ defect: BrokenQueue.Defect) -> ConformanceTarget<any MessageQueue> {
        let backend = MemoryBackend()
        return ConformanceTarget(label: "broken: \(defect)") { options in
            BrokenQueue(MemoryMessageQueue(backend: backend, appName: options.appName, nodeID: options.nodeID), defect: defect)
        }
    }

    @Test(arguments: expectations)
    func brokenAdapterFailsItsCase(_ expectation: Expectation) async {
        expectFailed(await QueueConformance.suite.run(caseNamed: expectation.caseName, against: Self.target(expectation.defect)))
    }

    /// The wrapper itself works: a case its defect does not touch still passes.
    @Test(arguments: [BrokenQueue.Defect.acknowledgeDoesNothing, .rejectDropsMessage, .extendDoesNothing])
    func brokenAdapterStillPassesUnrelatedCases(_ defect: BrokenQueue.Defect) async {
        expectPassed(await QueueConformance.suite.run(caseNamed: "queue.round-trip", against: Self.target(defect)))
    }
}
