import ClusterKit
import ClusterKitConformance
import Synchronization
import Testing

/// A memory allocator whose answers a test can script: renewals that say "lost", a backend
/// that fails, and a gate that holds lease requests until opened.
final class ScriptedWorkerIDAllocator: WorkerIDAllocator {
    struct BackendDown: Error {}

    private struct Script {
        var renewAnswer: Bool?
        var failing = false
        var gateClosed = false
        var gateWaiters: [CheckedContinuation<Void, Never>] = []
        var pendingLeases = 0
        var releases: [WorkerIDLeaseToken] = []
    }

    let inner: MemoryWorkerIDAllocator<ContinuousClock>
    let leaseTTL: Duration
    private let script = Mutex(Script())

    /// `poolTTL` (default: `ttl`) is how long leases really live in the pool; `ttl` is what
    /// the allocator reports. The 3 s default keeps a lease valid (2.7 s) and the IDs it holds
    /// in the pool however slowly a loaded machine schedules the test; tests about expiry
    /// pass a short `ttl`.
    init(backend: MemoryBackend, ttl: Duration = .seconds(3), poolTTL: Duration? = nil) {
        inner = MemoryWorkerIDAllocator(backend: backend, appName: "app", configuration: .init(leaseTTL: poolTTL ?? ttl))
        leaseTTL = ttl
    }

    var range: ClosedRange<Int> { inner.range }

    /// Renewals answer this instead of asking the pool (`nil`: ask the pool).
    func answerRenewals(_ answer: Bool?) { script.withLock { $0.renewAnswer = answer } }
    /// While failing, lease and renew throw.
    func fail(_ failing: Bool) { script.withLock { $0.failing = failing } }
    func closeGate() { script.withLock { $0.gateClosed = true } }
    func openGate() {
        let waiters = script.withLock { script in
            script.gateClosed = false
            defer { script.gateWaiters.removeAll() }
            return script.gateWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
    var pendingLeases: Int { script.withLock { $0.pendingLeases } }
    var releases: [WorkerIDLeaseToken] { script.withLock { $0.releases } }

    func lease() async throws -> WorkerIDLeaseToken {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = script.withLock { script in
                if script.gateClosed {
                    script.pendingLeases += 1
                    script.gateWaiters.append(continuation)
                }
                return script.gateClosed
            }
            if !wait { continuation.resume() }
        }
        if script.withLock({ $0.failing }) { throw BackendDown() }
        return try await inner.lease()
    }

    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool {
        let (failing, answer) = script.withLock { ($0.failing, $0.renewAnswer) }
        if failing { throw BackendDown() }
        if let answer { return answer }
        return try await inner.renew(lease)
    }

    func release(_ lease: WorkerIDLeaseToken) async throws {
        script.withLock { $0.releases.append(lease) }
        try await inner.release(lease)
    }

    func close() async { await inner.close() }
}

@Suite("Worker-ID lease")
struct WorkerIDLeaseTests {
    let backend = MemoryBackend()

    func otherNode() -> MemoryWorkerIDAllocator<ContinuousClock> {
        MemoryWorkerIDAllocator(backend: backend, appName: "app", configuration: .init(leaseTTL: .milliseconds(300)))
    }

    /// Collects the lease's events from now on.
    func record(_ lease: WorkerIDLease) -> (Collector<WorkerIDLeaseEvent>, Task<Void, Never>) {
        let events = Collector<WorkerIDLeaseEvent>()
        let stream = lease.events()
        return (events, Task { for await event in stream { events.append(event) } })
    }

    @Test func holdsOneLeaseAndReportsItsID() async throws {
        let lease = WorkerIDLease(allocator: ScriptedWorkerIDAllocator(backend: backend))
        #expect(lease.workerID == nil)
        #expect(lease.leaseTTL == .seconds(3))
        #expect(lease.validity == .milliseconds(2_700))
        #expect(lease.renewalInterval == .seconds(1))
        #expect(try await lease.acquire() == 0)
        #expect(lease.workerID == 0)
        #expect(try await lease.acquire() == 0, "acquire() while holding returns the held ID")
        #expect(try await otherNode().lease().workerID == 1, "only one ID was leased")
    }

    @Test func concurrentAcquiresShareOneLeaseRequest() async throws {
        let allocator = ScriptedWorkerIDAllocator(backend: backend)
        let lease = WorkerIDLease(allocator: allocator)
        allocator.closeGate()
        let callers = (0..<8).map { _ in Task { try await lease.acquire() } }
        try await eventually("the lease request reaches the allocator", timeout: .seconds(2)) { allocator.pendingLeases >= 1 }
        try await Task.sleep(for: .milliseconds(20))
        #expect(allocator.pendingLeases == 1)
        allocator.openGate()
        for caller in callers { #expect(try await caller.value == 0) }
        #expect(try await otherNode().lease().workerID == 1)
    }

    @Test func everyListenerGetsEveryLaterEvent() async throws {
        let lease = WorkerIDLease(allocator: ScriptedWorkerIDAllocator(backend: backend))
        let (first, firstTask) = record(lease)
        let (second, secondTask) = record(lease)
        defer { firstTask.cancel(); secondTask.cancel() }
        let id = try await lease.acquire()
        await lease.release()
        await lease.release()
        try await eventually("both listeners got both events", timeout: .seconds(2)) { first.count == 2 && second.count == 2 }
        #expect(first.values == [.acquired(id), .released(id)])
        #expect(second.values == [.acquired(id), .released(id)])
        #expect(lease.workerID == nil)
        #expect(try await otherNode().lease().workerID == id, "release() freed the ID")
    }

    @Test func aRefusedRenewalIsALossAndMaintainAcquiresAnotherID() async throws {
        // Renewals come every second (TTL 3 s), so the test can switch refusals off before
        // the new lease's first renewal; the pool keeps ID 0 for a minute, so the new lease
        // must be another ID however late the re-acquisition runs.
        let allocator = ScriptedWorkerIDAllocator(backend: backend, poolTTL: .seconds(60))
        let lease = WorkerIDLease(allocator: allocator)
        let (events, listener) = record(lease)
        defer { listener.cancel() }
        #expect(try await lease.acquire() == 0)
        let maintainer = Task { try await lease.maintain() }
        defer { maintainer.cancel() }
        allocator.answerRenewals(false)
        try await eventually("lost, then acquired again", timeout: .seconds(3)) { events.count >= 3 }
        #expect(events.values == [.acquired(0), .lost(0), .acquired(1)], "ID 0 still has a live lease in the pool, so the next is 1")
        allocator.answerRenewals(nil)
        #expect(lease.workerID == 1)
        maintainer.cancel()
        _ = await maintainer.result
        #expect(events.count == 3)
    }

    @Test func renewalsThatKeepFailingLoseTheLeaseThenMaintainRecovers() async throws {
        let allocator = ScriptedWorkerIDAllocator(backend: backend, ttl: .milliseconds(300))
        let lease = WorkerIDLease(allocator: allocator)
        let (events, listener) = record(lease)
        defer { listener.cancel() }
        let id = try await lease.acquire()
        let maintainer = Task { try await lease.maintain() }
        defer { maintainer.cancel() }
        allocator.fail(true)
        try await eventually("the lease is lost", timeout: .seconds(3)) { events.values.contains(.lost(id)) }
        #expect(lease.workerID == nil)
        try await Task.sleep(for: .milliseconds(150))
        #expect(events.count == 2, "no lease while the backend fails: \(events.values)")
        allocator.fail(false)
        try await eventually("a lease is acquired again", timeout: .seconds(5)) { events.count == 3 }
        #expect(lease.workerID != nil)
    }

    @Test func anUnrenewedLeaseStopsCountingBeforeItsTTL() async throws {
        // The allocator says 300 ms, but its pool keeps leases for a minute: the lease must
        // stop counting on its own reckoning, whatever the backend still holds.
        let lease = WorkerIDLease(allocator: ScriptedWorkerIDAllocator(backend: backend, ttl: .milliseconds(300), poolTTL: .seconds(60)))
        let (events, listener) = record(lease)
        defer { listener.cancel() }
        #expect(try await lease.acquire() == 0)
        try await Task.sleep(for: .milliseconds(280))
        #expect(lease.workerID == nil, "270 ms (90 % of the TTL) after the lease was taken it no longer counts")
        #expect(try await lease.acquire() == 1, "acquire() takes a new lease; the pool still holds ID 0")
        try await eventually("events", timeout: .seconds(2)) { events.count == 3 }
        #expect(events.values == [.acquired(0), .lost(0), .acquired(1)])
    }

    @Test func maintainAcquiresWhenNothingIsHeldAndReturnsAfterRelease() async throws {
        let lease = WorkerIDLease(allocator: ScriptedWorkerIDAllocator(backend: backend))
        let maintainer = Task { try await lease.maintain() }
        try await eventually("maintain() acquired a lease", timeout: .seconds(2)) { lease.workerID == 0 }
        await lease.release()
        try await waitForWorkerIDTask(maintainer, seconds: 2)
        #expect(lease.workerID == nil)
        #expect(try await otherNode().lease().workerID == 0)
    }

    @Test func maintainStopsWithTheClosedErrorWhenTheAllocatorCloses() async throws {
        let allocator = ScriptedWorkerIDAllocator(backend: backend)
        let lease = WorkerIDLease(allocator: allocator)
        let (events, listener) = record(lease)
        defer { listener.cancel() }
        let id = try await lease.acquire()
        let maintainer = Task { try await lease.maintain() }
        await allocator.close()
        await #expect(throws: WorkerIDError.closed) { try await maintainer.value }
        #expect(lease.workerID == nil)
        try await eventually("the loss is reported", timeout: .seconds(2)) { events.values.contains(.lost(id)) }
    }

    @Test func aCancelledAcquireStopsWaitingAndTheLateIDIsGivenBack() async throws {
        let allocator = ScriptedWorkerIDAllocator(backend: backend)
        let lease = WorkerIDLease(allocator: allocator)
        allocator.closeGate()
        let caller = Task { try await lease.acquire() }
        try await eventually("the lease request reaches the allocator", timeout: .seconds(2)) { allocator.pendingLeases == 1 }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        allocator.openGate()
        try await eventually("the ID nobody waits for is released", timeout: .seconds(2)) { allocator.releases.count == 1 }
        #expect(lease.workerID == nil)
        #expect(try await otherNode().lease().workerID == 0)
    }

    @Test func releaseDuringAnAcquireFailsItAndGivesTheIDBack() async throws {
        let allocator = ScriptedWorkerIDAllocator(backend: backend)
        let lease = WorkerIDLease(allocator: allocator)
        allocator.closeGate()
        let caller = Task { try await lease.acquire() }
        try await eventually("the lease request reaches the allocator", timeout: .seconds(2)) { allocator.pendingLeases == 1 }
        await lease.release()
        let error = await #expect(throws: WorkerIDError.self) { try await caller.value }
        #expect(error?.code == .notHeld)
        allocator.openGate()
        try await eventually("the late ID is released", timeout: .seconds(2)) { allocator.releases.count == 1 }
        #expect(lease.workerID == nil)
        #expect(try await lease.acquire() == 0, "acquire() after release() starts over")
    }
}

/// Waits up to `seconds` for `task` to finish, failing instead of hanging.
func waitForWorkerIDTask<T: Sendable>(_ task: Task<T, any Error>, seconds: Double) async throws {
    let finished = Mutex(false)
    let watcher = Task {
        _ = await task.result
        finished.withLock { $0 = true }
    }
    defer { watcher.cancel() }
    try await eventually("the task finishes", timeout: .seconds(seconds)) { finished.withLock { $0 } }
}
