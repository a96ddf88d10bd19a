import ClusterKit

/// The conformance suite every ``PubSub`` adapter must pass.
///
/// Cases use only the ``PubSub`` protocol, real time and short windows (tens to a few
/// hundred milliseconds), so they run unchanged against the memory adapter, Redis and
/// third-party adapters. Non-delivery is asserted by publishing a marker afterwards on the
/// same channel from the same node and waiting for it (publish order per channel is part of
/// the contract), followed by a short settle wait.
///
/// Themes: delivery (order, fan-out, channels, history, payloads), routing (default,
/// `skipSelf`, `onlySelf`, app namespaces), debounce, and lifecycle (cancel, duplicate
/// subscriptions, close).
public enum PubSubConformance {
    /// Capability names cases may require, with what an adapter declaring them promises.
    public static let capabilities: [String: String] = [
        "durable": """
            Messages published while a subscriber's connection is broken (backend restart, \
            connection killed) are delivered after it reconnects, exactly once and in order. \
            No case of this suite exercises it: breaking a connection needs backend fault \
            injection, which the PubSub protocol cannot express; backend test targets cover it.
            """,
    ]

    /// Every case, in a stable order.
    public static let suite = ConformanceSuite<any PubSub>(
        primitive: .pubsub,
        capabilities: capabilities,
        cases: deliveryCases + routingCases + debounceCases + lifecycleCases
    )

    /// Short wait after a marker arrived, for a wrongly delivered message that might still
    /// be in flight on another path (another channel or app).
    static let settle: Duration = .milliseconds(50)

    /// A case whose receivers are stopped when it ends, pass or fail.
    static func probing(
        _ name: String,
        _ summary: String,
        timeout: Duration = .seconds(20),
        _ body: @escaping @Sendable (ConformanceContext<any PubSub>, PubSubProbe) async throws -> Void
    ) -> ConformanceCase<any PubSub> {
        ConformanceCase(name, summary, timeout: timeout) { context in
            let probe = PubSubProbe()
            defer { probe.stopAll() }
            try await body(context, probe)
        }
    }

    /// Fails unless `body` throws a ``PubSubError`` with `code`.
    static func expectError<T>(_ code: PubSubError.Code, _ what: String, _ body: () async throws -> T) async throws {
        try await checkThrows(PubSubError.self, "\(what) should throw PubSubError.\(code)", where: { $0.code == code }, body)
    }

    /// `count` distinct text payloads `prefix-0`, `prefix-1`, …
    static func texts(_ prefix: String, _ count: Int) -> [String] {
        (0..<count).map { "\(prefix)-\($0)" }
    }
}
