/// Runs at most one computation per key at a time in this process; concurrent callers for
/// the same key wait for that computation and share its result or its error. Results and
/// errors are not remembered once the computation finished.
public actor SingleFlight {
    private var inFlight: [String: Task<[UInt8], any Error>] = [:]

    public init() {}

    /// The result of `compute` for `key`, shared with every caller that arrives while it runs.
    /// Cancelling one waiter does not cancel the shared computation.
    public func run(_ key: String, _ compute: @escaping @Sendable () async throws -> [UInt8]) async throws -> [UInt8] {
        if let running = inFlight[key] {
            return try await running.value
        }
        let task = Task { try await compute() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        return try await task.value
    }
}
