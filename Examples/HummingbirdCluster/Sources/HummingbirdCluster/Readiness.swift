import Synchronization

/// Which background parts of this instance are up; `GET /health` answers 200 only when all
/// are.
final class Readiness: Sendable {
    enum Part: String, CaseIterable, Sendable {
        case invalidationListener = "invalidation-listener"
        case jobWorker = "job-worker"
    }

    private let ready = Mutex<Set<Part>>([])

    func markReady(_ part: Part) {
        _ = ready.withLock { $0.insert(part) }
    }

    /// The parts not ready yet.
    var pending: [Part] {
        let ready = self.ready.withLock { $0 }
        return Part.allCases.filter { !ready.contains($0) }
    }
}
