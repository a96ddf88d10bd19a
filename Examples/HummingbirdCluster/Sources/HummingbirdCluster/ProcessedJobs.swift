import Synchronization

/// The jobs this instance's handler has run, for `GET /jobs/processed`.
///
/// Every handler run is recorded, so a job delivered twice to this instance appears twice;
/// the three-instance check adds the lists of all instances and expects each posted ID
/// exactly once. Keeps the most recent ``capacity`` IDs; ``total`` counts every run.
final class ProcessedJobs: Sendable {
    private struct State {
        var recent: [String] = []
        var total = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    func record(_ jobID: String) {
        state.withLock { state in
            if state.recent.count == capacity { state.recent.removeFirst(capacity / 10 + 1) }
            state.recent.append(jobID)
            state.total += 1
        }
    }

    /// The recorded IDs (oldest first) and the number of runs ever recorded.
    var snapshot: (ids: [String], total: Int) {
        state.withLock { ($0.recent, $0.total) }
    }
}
