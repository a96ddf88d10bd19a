import ClusterKitConformance
import Testing

/// Records a Swift Testing issue with the case's own message unless it passed.
func expectPassed(_ result: ConformanceResult, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == .passed, "\(result.line)", sourceLocation: sourceLocation)
}

/// Records an issue unless the case failed (used to prove that broken adapters are caught).
func expectFailed(_ result: ConformanceResult, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == .failed, "a broken adapter passed \(result.name)", sourceLocation: sourceLocation)
}
