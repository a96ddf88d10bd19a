import Foundation
import Synchronization

/// A `SerialExecutor` — and a `TaskExecutor` — that runs every job on one dedicated OS
/// thread.
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
/// ## As a task executor
/// A sequential caller can run its own (nonisolated) code on the same thread with
/// `withTaskExecutorPreference(connection.executor) { … }` or
/// `Task(executorPreference: connection.executor) { … }`. Entering the actor and returning
/// from it are then jobs queued on the same, already running thread, instead of a wake-up
/// of the actor's thread and then of a cooperative-pool thread. Every job — the actor's and
/// the preferring tasks' — runs on the one thread, one at a time, in enqueue order, so the
/// actor's isolation is unchanged; code run that way shares the thread with the actor (and
/// its blocking calls), so it should be the connection's user, not unrelated CPU-heavy
/// work.
///
/// The actor's jobs arrive through the serial executor ``asUnownedSerialExecutor()`` hands
/// out (a view of this executor) and run isolated to it; jobs of preferring tasks arrive
/// through ``enqueue(_:)`` as a task executor and run as nonisolated code on this task
/// executor, so a chain of nonisolated calls in such a task needs no hop at all.
///
/// ## Spinning before parking
/// With `spinBeforeParking` above zero, the thread, having run every queued job, polls
/// for a new one for that long (yielding the core between polls, `sched_yield`) before it
/// sleeps on its condition. A caller that sends its next command right after its previous
/// reply (a sequential caller on the cooperative pool, whose own wake-up takes tens of
/// microseconds on a VM) then finds the thread still awake: no futex sleep and wake-up of
/// this thread per command. The price is at most that much CPU per idle transition, spent
/// only when the queue ran dry; a busy thread never spins.
///
/// Jobs run in the order they were enqueued. ``shutdown()`` lets the thread exit once no
/// job is queued; a job enqueued after that (an actor resuming from a sleep that outlived
/// `close()`) starts a fresh thread for it, so no continuation is ever lost and at most one
/// thread runs jobs at any time.
public final class DedicatedThreadExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable is safe: every stored var is read and written only while holding
    // `condition`, except `runningThread`, which is an atomic, and the immutable `serial`.
    private let condition = NSCondition()
    private let name: String
    /// Queued jobs, in order; `isolated` for the actor's jobs (through ``SerialView``),
    /// false for jobs of tasks preferring this task executor.
    private var jobs: [(job: UnownedJob, isolated: Bool)] = []
    private var stopping = false
    /// The thread running jobs now, or `nil` when none runs (after shutdown drained).
    private var thread: Thread?
    /// `pthread_self()` of the thread running jobs now, 0 while none does: lets
    /// ``isCurrentThread`` answer without taking the lock (it is asked on hot paths).
    private let runningThread = Atomic<UInt>(0)
    /// Jobs of the batch the thread took that have not started yet (the run loop takes
    /// every queued job at once, so they are no longer in `jobs`).
    private let remainingInBatch = Atomic<Int>(0)
    /// `jobs.count`, written while holding `condition`, read without it (the spin before
    /// parking and ``hasQueuedJobs`` poll it).
    private let queuedCount = Atomic<Int>(0)
    /// How long the thread polls for a job before it sleeps, in nanoseconds (0: never).
    private let spinNanoseconds: UInt64
    /// Whether the thread is polling for a job now (see ``isSpinning``).
    private let spinning = Atomic<Bool>(false)

    /// The serial executor actors use: it queues their jobs as isolated jobs.
    private final class SerialView: SerialExecutor, @unchecked Sendable {
        // @unchecked Sendable is safe: its only state is an immutable reference to a
        // Sendable executor.
        unowned let owner: DedicatedThreadExecutor

        init(owner: DedicatedThreadExecutor) { self.owner = owner }

        func enqueue(_ job: consuming ExecutorJob) { owner.enqueue(UnownedJob(job), isolated: true) }

        func checkIsolated() { owner.checkIsolated() }
    }

    private var serial: SerialView!

    /// Starts the thread. `name` (its first 15 bytes on Linux) shows in debuggers and `top -H`.
    /// `spinBeforeParking`: how long the thread keeps polling for a job after running the
    /// last queued one before it sleeps (see "Spinning before parking"; zero: it sleeps at
    /// once). Negative durations count as zero.
    public init(name: String, spinBeforeParking: Duration = .zero) {
        self.name = name
        let (seconds, attoseconds) = spinBeforeParking.components
        spinNanoseconds = spinBeforeParking > .zero ? UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000) : 0
        serial = SerialView(owner: self)
        condition.lock()
        startThread()
        condition.unlock()
    }

    /// Starts a thread running ``runLoop()``; the caller holds `condition`.
    private func startThread() {
        let thread = Thread { [self] in
            Self.nameCurrentThread(name)
            runLoop()
        }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    /// Foundation's `Thread.name` does not reach the OS thread on Linux, so debuggers, `top -H`
    /// and `/proc/<pid>/task/*/comm` would show the creator's name; set it there (Linux keeps
    /// at most 15 bytes).
    private static func nameCurrentThread(_ name: String) {
        #if os(Linux)
        // `pthread_setname_np` is not exported to Swift by Glibc (it needs _GNU_SOURCE) and
        // `prctl` is variadic; the kernel's per-thread `comm` file does the same.
        let descriptor = open("/proc/thread-self/comm", O_WRONLY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        #endif
    }

    /// Queues `job` of a task preferring this task executor to run on the thread after
    /// every job queued before it. (Used directly as a serial executor — which
    /// ``asUnownedSerialExecutor()`` avoids — a job also runs on the thread, in order.)
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(UnownedJob(job), isolated: false)
    }

    private func enqueue(_ job: UnownedJob, isolated: Bool) {
        condition.lock()
        jobs.append((job, isolated))
        queuedCount.store(jobs.count, ordering: .releasing)
        if thread == nil { startThread() }
        condition.unlock()
        // Signalled after unlocking: a thread woken while the lock is still held would
        // wake only to block on it again (one more futex sleep and wake per job). No
        // wake-up is lost: the run loop checks `jobs` under the lock before it waits.
        condition.signal()
    }

    /// The serial executor for an actor running on this thread.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: serial)
    }

    /// Whether the calling code runs on this executor's thread.
    public var isCurrentThread: Bool {
        runningThread.load(ordering: .acquiring) == Self.currentThreadID
    }

    /// Whether jobs are queued behind the one running now (a snapshot: more may arrive at
    /// any time). Lets code running on the thread tell a lone caller from a crowd, e.g. to
    /// do a round trip at once rather than queue it for a batch.
    public var hasQueuedJobs: Bool {
        remainingInBatch.load(ordering: .relaxed) > 0 || queuedCount.load(ordering: .relaxed) > 0
    }

    /// Whether the thread is awake with nothing to do, polling for a job before it parks
    /// (a snapshot). A job enqueued now starts without a wake-up: callers with a choice of
    /// executors (a pool of connections) can prefer this one.
    public var isSpinning: Bool { spinning.load(ordering: .relaxed) }

    private static var currentThreadID: UInt { UInt(pthread_self()) }

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
        runningThread.store(Self.currentThreadID, ordering: .releasing)
        var batch: [(job: UnownedJob, isolated: Bool)] = []
        let serial = asUnownedSerialExecutor()
        let task = asUnownedTaskExecutor()
        while true {
            if spinNanoseconds > 0 { spinForJob() }
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                // Stopping and drained: give up the thread. A later enqueue starts another
                // (which stores its own ID before running anything).
                thread = nil
                runningThread.store(0, ordering: .releasing)
                condition.unlock()
                return
            }
            swap(&batch, &jobs)
            queuedCount.store(0, ordering: .releasing)
            condition.unlock()
            // An actor's job runs isolated to the serial executor (on this task executor); a
            // preferring task's job runs as nonisolated code on this task executor, so its
            // further nonisolated calls stay here without being queued again.
            for (index, (job, isolated)) in batch.enumerated() {
                remainingInBatch.store(batch.count - index - 1, ordering: .relaxed)
                if isolated {
                    job.runSynchronously(isolatedTo: serial, taskExecutor: task)
                } else {
                    job.runSynchronously(on: task)
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Polls for a queued job for at most `spinNanoseconds`, yielding the core between
    /// polls so that a runnable thread on it (the server, the caller) goes first.
    private func spinForJob() {
        guard queuedCount.load(ordering: .acquiring) == 0 else { return }
        spinning.store(true, ordering: .relaxed)
        defer { spinning.store(false, ordering: .relaxed) }
        let deadline = Self.monotonicNanoseconds() &+ spinNanoseconds
        repeat {
            sched_yield()
            if queuedCount.load(ordering: .acquiring) > 0 { return }
        } while Self.monotonicNanoseconds() < deadline
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
