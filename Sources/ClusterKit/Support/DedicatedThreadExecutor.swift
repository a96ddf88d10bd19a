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
/// Jobs run in the order they were enqueued. ``shutdown()`` lets the thread exit once no
/// job is queued; a job enqueued after that (an actor resuming from a sleep that outlived
/// `close()`) starts a fresh thread for it, so no continuation is ever lost and at most one
/// thread runs jobs at any time.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable is safe: every stored property is read and written only while
    // holding `condition`.
    private let condition = NSCondition()
    private let name: String
    private var jobs: [UnownedJob] = []
    private var stopping = false
    /// The thread running jobs now, or `nil` when none runs (after shutdown drained).
    private var thread: Thread?

    /// Starts the thread. `name` shows in debuggers and `top -H`.
    public init(name: String) {
        self.name = name
        condition.lock()
        startThread()
        condition.unlock()
    }

    /// Starts a thread running ``runLoop()``; the caller holds `condition`.
    private func startThread() {
        let thread = Thread { [self] in runLoop() }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        if thread == nil { startThread() }
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Whether the calling code runs on this executor's thread.
    public var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread.map { Thread.current === $0 } ?? false
    }

    public func checkIsolated() {
        precondition(isCurrentThread, "expected to run on the dedicated thread \(name)")
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
            if jobs.isEmpty {
                // Stopping and drained: give up the thread. A later enqueue starts another.
                thread = nil
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
