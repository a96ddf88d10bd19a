import ClusterKit

/// The conformance cases of one primitive, and how to run them.
public struct ConformanceSuite<Adapter: Sendable>: Sendable {
    /// The primitive the suite covers.
    public let primitive: Primitive
    /// Every case, in a stable order.
    public let cases: [ConformanceCase<Adapter>]
    /// The capability names cases of this suite may require, with what each means.
    public let capabilities: [String: String]

    public init(primitive: Primitive, capabilities: [String: String] = [:], cases: [ConformanceCase<Adapter>]) {
        self.primitive = primitive
        self.capabilities = capabilities
        self.cases = cases
    }

    /// The names of all cases.
    public var caseNames: [String] { cases.map(\.name) }

    /// Runs every case (or those named in `only`) one after another, calling `progress`
    /// after each.
    public func run(
        against target: ConformanceTarget<Adapter>,
        only: Set<String>? = nil,
        progress: @Sendable (ConformanceResult) -> Void = { _ in }
    ) async -> [ConformanceResult] {
        var results: [ConformanceResult] = []
        for testCase in cases where only?.contains(testCase.name) ?? true {
            let result = await run(testCase, against: target)
            progress(result)
            results.append(result)
        }
        return results
    }

    /// Runs the case called `name`; a failed result if there is none.
    public func run(caseNamed name: String, against target: ConformanceTarget<Adapter>) async -> ConformanceResult {
        guard let testCase = cases.first(where: { $0.name == name }) else {
            return ConformanceResult(suite: primitive.rawValue, name: name, adapter: target.label, status: .failed,
                                     message: "no case named \(name)", milliseconds: 0)
        }
        return await run(testCase, against: target)
    }

    private func run(_ testCase: ConformanceCase<Adapter>, against target: ConformanceTarget<Adapter>) async -> ConformanceResult {
        func result(_ status: ConformanceResult.Status, _ message: String?, _ elapsed: Duration) -> ConformanceResult {
            ConformanceResult(suite: primitive.rawValue, name: testCase.name, adapter: target.label, status: status,
                              message: message, milliseconds: Int((elapsed.seconds * 1000).rounded()))
        }
        if let capability = testCase.capability, !target.capabilities.contains(capability) {
            return result(.skipped, "needs capability '\(capability)'", .zero)
        }
        let context = ConformanceContext(caseName: testCase.name, target: target)
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = await Deadline.run(timeout: testCase.timeout) {
            try await testCase.body(context)
        }
        // Closing is bounded too: a hung close must not hang the whole run.
        let closeOutcome = await Deadline.run(timeout: .seconds(15)) { await context.closeAll() }
        let elapsed = clock.now - start
        switch outcome {
        case .success:
            if case .timedOut = closeOutcome {
                return result(.failed, "closing the case's nodes did not finish within 15 s", elapsed)
            }
            return result(.passed, nil, elapsed)
        case .failure(let error as ConformanceFailure):
            return result(.failed, error.message, elapsed)
        case .failure(let error):
            return result(.failed, "unexpected error: \(String(describing: error))", elapsed)
        case .timedOut:
            return result(.failed, "did not finish within \(testCase.timeout)", elapsed)
        }
    }
}

/// The outcome of one case.
public struct ConformanceResult: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable, Hashable { case passed, failed, skipped }

    public let suite: String
    public let name: String
    public let adapter: String
    public let status: Status
    /// Why it failed or was skipped.
    public let message: String?
    public let milliseconds: Int

    public init(suite: String, name: String, adapter: String, status: Status, message: String?, milliseconds: Int) {
        self.suite = suite
        self.name = name
        self.adapter = adapter
        self.status = status
        self.message = message
        self.milliseconds = milliseconds
    }

    /// One line for a report: `PASS cache.round-trip (memory, 3 ms)`.
    public var line: String {
        let tag = switch status { case .passed: "PASS"; case .failed: "FAIL"; case .skipped: "SKIP" }
        var text = "\(tag) \(name) (\(adapter), \(milliseconds) ms)"
        if let message { text += ": \(message)" }
        return text
    }
}

extension Array where Element == ConformanceResult {
    /// `N passed, N failed` plus `, N skipped` when any were skipped.
    public var summaryLine: String {
        let passed = filter { $0.status == .passed }.count
        let failed = filter { $0.status == .failed }.count
        let skipped = filter { $0.status == .skipped }.count
        return "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
    }
}
