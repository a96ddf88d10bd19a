import Foundation

/// A `SerialExecutor` that runs every job on one dedicated OS thread.
///
/// For actors that wrap blocking C clients (hiredis, rabbitmq-c): give the actor this
/// executor and every one of its methods — and so every blocking C call it makes — runs on
/// that thread, never on Swift's cooperative pool, and never on two threads at once (the C
/// connections are not thread-safe).
///
/// ```swift
/// actor Connection {
///     nonisolated let executor = DedicatedThreadExecutor(name: "redis-1")
///     nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
/// }
/// ```
///
/// Jobs run in the order they were enqueued. ``shutdown()`` lets the thread finish the jobs
/// already queued and then exit; jobs enqueued after it still run (on the same thread,
/// which drains before exiting) so no continuation is ever lost.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable is safe: `jobs` and `stopping` are read and written only while
    // holding `condition`; `thread` is set once in init before any job can be enqueued.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var thread: Thread?

    /// Starts the thread. `name` shows in debuggers and `top -H`.
    public init(name: String) {
        let thread = Thread { [self] in runLoop() }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Whether the calling code runs on this executor's thread.
    public var isCurrentThread: Bool { Thread.current === thread }

    public func checkIsolated() {
        precondition(isCurrentThread, "expected to run on the dedicated thread \(thread?.name ?? "")")
    }

    /// Lets the thread exit once no job is queued. Idempotent.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
