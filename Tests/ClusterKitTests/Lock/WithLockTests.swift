import ClusterKit
import Synchronization
import Testing

/// `withLock` against a lock whose extend/release can be made to misbehave.
@Suite("withLock")
struct WithLockTests {
    struct TestBodyError: Error, Equatable { let tag: Int }

    /// A memory lock with switchable faults, counting calls. Its TTLs and acquire timeouts run
    /// on a ``ManualClock``, so no scheduler delay can expire a lease; `withLock`'s watchdog
    /// still ticks in real time.
    final class ScriptedLock: DistributedLock {
        struct Faults: Sendable {
            var refuseExtensions = false
            var failExtensions = false
            var failReleases = false
            /// Like a network client: a release from a cancelled task fails.
            var releaseFailsWhenCancelled = false
        }

        let clock = ManualClock()
        let inner: MemoryLock<ManualClock>
        let faults: Faults
        private let counts = Mutex((extends: 0, granted: 0, releases: 0))

        init(_ faults: Faults = Faults()) {
            self.faults = faults
            inner = MemoryLock(backend: MemoryBackend(), appName: "test", clock: clock)
        }

        var extendCount: Int { counts.withLock { $0.extends } }
        /// Extensions the inner lock has applied (returned `true`).
        var grantedExtensions: Int { counts.withLock { $0.granted } }
        var releaseCount: Int { counts.withLock { $0.releases } }

        func tryAcquire(_ key: String, ttl: Duration) async throws -> LockLease? {
            try await inner.tryAcquire(key, ttl: ttl)
        }

        func acquire(_ key: String, ttl: Duration, timeout: Duration) async throws -> LockLease {
            try await inner.acquire(key, ttl: ttl, timeout: timeout)
        }

        func release(_ lease: LockLease) async throws -> Bool {
            counts.withLock { $0.releases += 1 }
            if faults.failReleases { throw LockError(code: .backend, message: "release failed (scripted)") }
            if faults.releaseFailsWhenCancelled, Task.isCancelled { throw CancellationError() }
            return try await inner.release(lease)
        }

        func extend(_ lease: LockLease, ttl: Duration) async throws -> Bool {
            counts.withLock { $0.extends += 1 }
            if faults.failExtensions { throw LockError(code: .backend, message: "extend failed (scripted)") }
            if faults.refuseExtensions { return false }
            let granted = try await inner.extend(lease, ttl: ttl)
            if granted { counts.withLock { $0.granted += 1 } }
            return granted
        }

        func close() async { await inner.close() }
    }

    @Test func watchdogExtendsTheLeaseWhileTheBodyRuns() async throws {
        let lock = ScriptedLock()
        // The lock's time moves only when the body moves it: after each extension the body
        // lets 200 ms pass, 600 ms in all under a 300 ms TTL. Without extensions the lease
        // would lapse and the release at the end would report it (leaseLost); no scheduler
        // delay can lapse it. (The watchdog extends every 100 ms of real time.)
        let result = try await lock.withLock("k", ttl: .milliseconds(300)) { lease in
            for round in 1...3 {
                try await waitUntil("extension \(round) is applied") { lock.grantedExtensions >= round }
                lock.clock.advance(by: .milliseconds(200))
            }
            return lease.fencingToken
        }
        #expect(result > 0)
        #expect(lock.extendCount >= 3, "the body waited for three extensions, got \(lock.extendCount)")
        #expect(lock.releaseCount == 1)
        #expect(lock.inner.statistics.keys == 0, "released after the body")
    }

    @Test(arguments: [ScriptedLock.Faults(refuseExtensions: true), ScriptedLock.Faults(failExtensions: true)])
    func lostLeaseCancelsTheBodyAndThrowsLeaseLost(_ faults: ScriptedLock.Faults) async throws {
        let lock = ScriptedLock(faults)
        let bodyCancelled = Flag()
        let error = await #expect(throws: LockError.self) {
            try await lock.withLock("k", ttl: .milliseconds(90)) { _ in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    bodyCancelled.set()
                    throw error
                }
            }
        }
        #expect(error?.code == .leaseLost)
        #expect(bodyCancelled.isSet, "the body was not cancelled")
        #expect(lock.releaseCount == 1, "withLock still releases after losing the lease")
        #expect(lock.inner.statistics.keys == 0)
    }

    @Test func bodyIgnoringCancellationStillEndsInLeaseLost() async throws {
        let lock = ScriptedLock(.init(refuseExtensions: true))
        let error = await #expect(throws: LockError.self) {
            try await lock.withLock("k", ttl: .milliseconds(60)) { _ in
                // Ignores cancellation and returns a value after the lease was lost (the
                // sleep ends early when cancelled; 10 s is far beyond any scheduler stall).
                try? await Task.sleep(for: .seconds(10))
                return 1
            }
        }
        #expect(error?.code == .leaseLost)
    }

    @Test func releaseFailureDoesNotMaskTheBodysError() async throws {
        let lock = ScriptedLock(.init(failReleases: true))
        await #expect(throws: TestBodyError(tag: 3)) {
            try await lock.withLock("k", ttl: .seconds(5)) { _ -> Int in throw TestBodyError(tag: 3) }
        }
        #expect(lock.releaseCount == 1)
    }

    @Test func releaseFailureAfterASuccessfulBodyKeepsTheValue() async throws {
        let lock = ScriptedLock(.init(failReleases: true))
        let value = try await lock.withLock("k", ttl: .seconds(5)) { _ in "done" }
        #expect(value == "done")
        #expect(lock.releaseCount == 1)
    }

    @Test func bodyThatLostItsLockByItsEndReportsLeaseLost() async throws {
        let lock = ScriptedLock()
        let error = await #expect(throws: LockError.self) {
            try await lock.withLock("k", ttl: .seconds(30)) { lease in
                _ = try await lock.inner.release(lease) // gone before withLock releases it
                return 1
            }
        }
        #expect(error?.code == .leaseLost)
    }

    @Test func cancellingTheCallerCancelsTheBodyAndStillReleases() async throws {
        let lock = ScriptedLock(.init(releaseFailsWhenCancelled: true))
        let entered = Flag()
        let task = Task {
            try await lock.withLock("k", ttl: .seconds(5)) { _ in
                entered.set()
                try await Task.sleep(for: .seconds(30))
            }
        }
        try await waitUntil("the body runs") { entered.isSet }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(lock.releaseCount == 1)
        #expect(lock.inner.statistics.keys == 0, "the release ran outside the cancelled task")
    }

    @Test func acquireTimeoutMeansTheBodyNeverRuns() async throws {
        let lock = ScriptedLock()
        _ = try #require(try await lock.tryAcquire("k", ttl: .seconds(30)))
        let ran = Flag()
        let caller = Task {
            try await lock.withLock("k", ttl: .seconds(5), timeout: .milliseconds(50)) { _ in ran.set() }
        }
        try await waitUntil("the caller waits for the lock") { lock.clock.sleeperCount == 1 }
        lock.clock.advance(by: .milliseconds(50))
        let error = await #expect(throws: LockError.self) { try await caller.value }
        #expect(error?.code == .timedOut)
        #expect(!ran.isSet)
        #expect(lock.releaseCount == 0)
    }
}
