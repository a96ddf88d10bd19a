/// Runs at most one computation per key at a time in this process; concurrent callers for
/// the same key wait for that computation and share its result or its error. Results and
/// errors are not remembered once the computation finished: a caller arriving after it
/// completed starts a new one.
///
/// Keys are compared as UTF-8 bytes, like cache keys in every store: the NFC and NFD
/// spellings of "café" are two keys, as they are in Redis.
public actor SingleFlight {
    private struct Flight {
        let id: UInt64
        let task: Task<[UInt8], any Error>
    }

    private var inFlight: [[UInt8]: Flight] = [:]
    private var nextID: UInt64 = 0

    public init() {}

    /// The result of `compute` for `key`, shared with every caller that arrives while it runs.
    /// Cancelling one waiter does not cancel the shared computation.
    public func run(_ key: [UInt8], _ compute: @escaping @Sendable () async throws -> [UInt8]) async throws -> [UInt8] {
        if let running = inFlight[key] {
            return try await running.task.value
        }
        nextID += 1
        let id = nextID
        let task = Task<[UInt8], any Error> {
            // Leave the table before anyone sees the outcome, so a late arrival can never
            // pick up a finished flight's (possibly failed) result.
            let outcome: Result<[UInt8], any Error>
            do { outcome = .success(try await compute()) } catch { outcome = .failure(error) }
            self.finish(key, id: id)
            return try outcome.get()
        }
        inFlight[key] = Flight(id: id, task: task)
        return try await task.value
    }

    private func finish(_ key: [UInt8], id: UInt64) {
        if inFlight[key]?.id == id { inFlight[key] = nil }
    }
}
