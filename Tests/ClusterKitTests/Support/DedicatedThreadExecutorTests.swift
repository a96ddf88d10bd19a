import ClusterKit
import Foundation
import Synchronization
import Testing

@Suite("DedicatedThreadExecutor")
struct DedicatedThreadExecutorTests {
    actor Pinned {
        nonisolated let executor = DedicatedThreadExecutor(name: "pinned-test")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        var log: [Int] = []

        /// The OS name of the thread this runs on.
        func osThreadName() -> String {
            #if os(Linux)
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            return comm.trimmingCharacters(in: .newlines)
            #else
            return Thread.current.name ?? ""
            #endif
        }

        func record(_ value: Int) -> Bool {
            log.append(value)
            return executor.isCurrentThread
        }

        /// Whether another job waits behind this one.
        func queuedBehind() -> Bool { executor.hasQueuedJobs }

        /// Keeps the thread busy until `count` callers have started, and 100 ms more (so
        /// that their jobs have all been queued).
        func hold(until callers: Callers, count: Int) {
            callers.holding.store(true, ordering: .releasing)
            let start = ContinuousClock.now
            while callers.started.load(ordering: .acquiring) < count, ContinuousClock.now - start < .seconds(10) {}
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .milliseconds(100) {}
        }

        /// Whether a job is queued behind this one before and after this method starts a
        /// task isolated to the actor (its first job is queued on the executor at once).
        func queuedJobsAroundSpawning() -> (before: Bool, after: Bool) {
            let before = executor.hasQueuedJobs
            Task { self.log.append(-1) }
            return (before, executor.hasQueuedJobs)
        }
    }

    final class Callers: Sendable {
        let holding = Atomic<Bool>(false)
        let started = Atomic<Int>(0)
    }

    /// Whether nonisolated code of the calling task runs on `executor`'s thread.
    nonisolated static func onThread(of executor: DedicatedThreadExecutor) async -> Bool {
        executor.isCurrentThread
    }

    @Test("the OS thread carries the executor's name")
    func osThreadIsNamed() async {
        let pinned = Pinned()
        #expect(await pinned.osThreadName() == "pinned-test")
    }

    @Test("actor methods run on the dedicated thread, in order, never on the cooperative pool")
    func runsOnItsThread() async {
        let pinned = Pinned()
        for value in 0..<100 {
            #expect(await pinned.record(value), "job \(value) ran off the dedicated thread")
        }
        #expect(await pinned.log == Array(0..<100))
        pinned.executor.shutdown()
    }

    @Test("concurrent callers are serialised: no lost updates")
    func serialises() async {
        let pinned = Pinned()
        await withTaskGroup(of: Void.self) { group in
            for value in 0..<1000 { group.addTask { _ = await pinned.record(value) } }
        }
        #expect(await pinned.log.count == 1000)
        #expect(Set(await pinned.log).count == 1000)
        pinned.executor.shutdown()
    }

    @Test("work enqueued after shutdown still runs (a sleep that outlives close must resume)", .timeLimit(.minutes(1)))
    func runsAfterShutdown() async throws {
        let pinned = Pinned()
        #expect(await pinned.record(1))
        pinned.executor.shutdown()
        try await Task.sleep(for: .milliseconds(50))   // let the drained thread exit
        #expect(await pinned.record(2), "resumed off the dedicated thread")
        #expect(await pinned.log == [1, 2])
        pinned.executor.shutdown()
    }

    @Test("a task preferring the executor runs its nonisolated code on the dedicated thread, before and after actor calls")
    func taskExecutorPreferenceRunsOnTheThread() async {
        let pinned = Pinned()
        #expect(!(await Self.onThread(of: pinned.executor)), "a plain task ran on the dedicated thread")
        let results = await withTaskExecutorPreference(pinned.executor) { () async -> [Bool] in
            var results: [Bool] = []
            for value in 0..<50 {
                results.append(await Self.onThread(of: pinned.executor))
                results.append(await pinned.record(value))
                results.append(await Self.onThread(of: pinned.executor))
            }
            return results
        }
        #expect(results.count == 150)
        #expect(results.allSatisfy { $0 }, "\(results.filter { !$0 }.count) of 150 steps ran off the dedicated thread")
        #expect(await pinned.log == Array(0..<50))
        // Outside the preference scope the task is back on the cooperative pool.
        #expect(!(await Self.onThread(of: pinned.executor)))
        pinned.executor.shutdown()
    }

    @Test("preferring tasks and plain callers together are still serialised on the actor")
    func preferringAndPlainCallersAreSerialised() async {
        let pinned = Pinned()
        await withTaskGroup(of: Void.self) { group in
            for value in 0..<500 {
                group.addTask { _ = await pinned.record(value) }
                group.addTask(executorPreference: pinned.executor) { _ = await pinned.record(500 + value) }
            }
        }
        #expect(await pinned.log.count == 1000)
        #expect(Set(await pinned.log) == Set(0..<1000))
        pinned.executor.shutdown()
    }

    @Test("a task preferring a shut-down executor still runs, on a fresh dedicated thread", .timeLimit(.minutes(1)))
    func taskExecutorPreferenceAfterShutdown() async throws {
        let pinned = Pinned()
        pinned.executor.shutdown()
        try await Task.sleep(for: .milliseconds(50))   // let the drained thread exit
        let onThread = await Task(executorPreference: pinned.executor) { await Self.onThread(of: pinned.executor) }.value
        #expect(onThread)
        #expect(await pinned.record(1))
        pinned.executor.shutdown()
    }

    @Test("hasQueuedJobs also sees jobs taken in the same batch that have not run yet", .timeLimit(.minutes(1)))
    func hasQueuedJobsSeesTheRestOfTheBatch() async throws {
        let pinned = Pinned()
        // Hold the thread until five callers have queued up, so the run loop takes all
        // five at once; each then asks whether anything waits behind it.
        let callers = Callers()
        let blocker = Task { await pinned.hold(until: callers, count: 5) }
        while !callers.holding.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(1)) }
        let seen = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    callers.started.add(1, ordering: .releasing)
                    return await pinned.queuedBehind()
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        await blocker.value
        // The first four of the batch see the rest; the last sees nothing. Counting only
        // the jobs still in the queue, all five would read `false`.
        #expect(seen.filter { $0 }.count == 4, "\(seen)")
        pinned.executor.shutdown()
    }

    @Test("hasQueuedJobs tells whether a job waits behind the running one")
    func hasQueuedJobsSeesWaitingJobs() async throws {
        let pinned = Pinned()
        let (before, after) = await pinned.queuedJobsAroundSpawning()
        #expect(!before, "a job was reported queued on an idle executor")
        #expect(after, "the task started from the actor was not reported queued")
        // The spawned task still runs.
        while await !pinned.log.contains(-1) { try await Task.sleep(for: .milliseconds(1)) }
        pinned.executor.shutdown()
    }

    @Test("with spinBeforeParking the idle thread stays awake that long, runs what arrives meanwhile, then parks", .timeLimit(.minutes(1)))
    func spinsThenParks() async throws {
        // A long window, so that the test observes it on a loaded machine.
        let executor = DedicatedThreadExecutor(name: "spin-test", spinBeforeParking: .milliseconds(300))
        defer { executor.shutdown() }
        let clock = ContinuousClock()
        func awaitSpinning(_ wanted: Bool) async throws {
            let start = clock.now
            while executor.isSpinning != wanted, clock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(1)) }
            #expect(executor.isSpinning == wanted)
        }
        func onThread() async -> Bool { await Task(executorPreference: executor) { executor.isCurrentThread }.value }

        #expect(await onThread())
        try await awaitSpinning(true)       // ran out of jobs: polling, not parked
        #expect(await onThread())           // a job arriving now runs (and the window restarts)
        try await awaitSpinning(true)
        try await awaitSpinning(false)      // the window passed: parked
        #expect(await onThread())           // woken from its condition as before

        let quiet = DedicatedThreadExecutor(name: "no-spin-test")
        defer { quiet.shutdown() }
        #expect(await Task(executorPreference: quiet) { quiet.isCurrentThread }.value)
        try await Task.sleep(for: .milliseconds(20))
        #expect(!quiet.isSpinning)
    }

    @Test("shutdown while the thread spins: it exits, and later jobs still run on a fresh thread", .timeLimit(.minutes(1)))
    func shutdownWhileSpinning() async throws {
        let executor = DedicatedThreadExecutor(name: "spin-stop", spinBeforeParking: .milliseconds(200))
        #expect(await Task(executorPreference: executor) { executor.isCurrentThread }.value)
        executor.shutdown()
        try await Task.sleep(for: .milliseconds(400))
        #expect(await Task(executorPreference: executor) { executor.isCurrentThread }.value)
        executor.shutdown()
    }
}
