import Synchronization

/// Runs work with a time limit without waiting for work that ignores cancellation: on
/// timeout the work is cancelled and abandoned, and the caller goes on.
enum Deadline {
    enum Outcome {
        case success
        case failure(any Error)
        case timedOut
    }

    static func run(timeout: Duration, _ work: @escaping @Sendable () async throws -> Void) async -> Outcome {
        let box = Mutex<CheckedContinuation<Outcome, Never>?>(nil)
        let finish: @Sendable (Outcome) -> Void = { outcome in
            let continuation = box.withLock { state -> CheckedContinuation<Outcome, Never>? in
                defer { state = nil }
                return state
            }
            continuation?.resume(returning: outcome)
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            box.withLock { $0 = continuation }
            let timer = Mutex<Task<Void, Never>?>(nil)
            let worker = Task {
                do {
                    try await work()
                    finish(.success)
                } catch {
                    finish(.failure(error))
                }
                timer.withLock { $0?.cancel() }
            }
            let timerTask = Task {
                try? await Task.sleep(for: timeout)
                if Task.isCancelled { return }
                worker.cancel()
                finish(.timedOut)
            }
            timer.withLock { $0 = timerTask }
        }
    }
}
