import ClusterKit
import Testing

/// Memory-specific behaviour on a manual clock: exact TTLs and timeouts, FIFO hand-over,
/// cancellation, close, and that the shared table forgets free keys.
@Suite("Memory lock")
struct MemoryLockTests {
    private static let justUnder: Duration = .nanoseconds(1)

    /// Starts `acquire` on `node` and waits until it is queued (the table has `waiters`
    /// waiters) and sleeping on the clock.
    private func startWaiter(_ node: MemoryLock<ManualClock>, _ cluster: ManualLockCluster, key: String = "k",
                             ttl: Duration = .seconds(60), timeout: Duration = .seconds(600), waiters: Int,
                             done: Flag = Flag()) async throws -> Task<LockLease, any Error> {
        let task = Task {
            defer { done.set() }
            return try await node.acquire(key, ttl: ttl, timeout: timeout)
        }
        try await waitUntil("waiter \(waiters) is queued") { node.statistics.waiters == waiters }
        try await waitUntil("waiter \(waiters) sleeps on the clock") { cluster.clock.sleeperCount >= waiters }
        return task
    }

    // MARK: TTL and timeouts

    @Test func lockIsHeldUntilExactlyItsTTL() async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node())
        let lease = try #require(try await a.tryAcquire("k", ttl: .seconds(10)))
        cluster.clock.advance(by: .seconds(10) - Self.justUnder)
        #expect(try await b.tryAcquire("k", ttl: .seconds(10)) == nil, "1 ns before the TTL the lock is still held")
        #expect(try await a.extend(lease, ttl: .seconds(10) - Self.justUnder) == true, "the owner can still extend 1 ns before the TTL")
        cluster.clock.advance(by: .seconds(10) - Self.justUnder)
        let next = try #require(try await b.tryAcquire("k", ttl: .seconds(10)), "free once the extended TTL is reached")
        #expect(next.fencingToken > lease.fencingToken)
        #expect(try await a.release(lease) == false, "the expired owner's release is refused")
        #expect(try await a.extend(lease, ttl: .seconds(10)) == false, "the expired owner cannot extend")
        #expect(try await b.release(next) == true)
    }

    @Test func waiterWakesExactlyAtTheHolderExpiry() async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node())
        let held = try #require(try await a.tryAcquire("k", ttl: .seconds(10)))
        let done = Flag()
        let waiter = try await startWaiter(b, cluster, waiters: 1, done: done)
        cluster.clock.advance(by: .seconds(10) - Self.justUnder)
        try await Task.sleep(for: .milliseconds(30))
        #expect(!done.isSet, "the waiter must not get the lock before the holder's TTL")
        cluster.clock.advance(by: Self.justUnder)
        let lease = try await waiter.value
        #expect(lease.fencingToken > held.fencingToken)
        #expect(b.statistics == .init(keys: 1, holders: 1, waiters: 0))
    }

    @Test func acquireTimesOutExactlyAtItsTimeout() async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node())
        _ = try #require(try await a.tryAcquire("k", ttl: .seconds(60)))
        let done = Flag()
        let waiter = try await startWaiter(b, cluster, timeout: .seconds(5), waiters: 1, done: done)
        cluster.clock.advance(by: .seconds(5) - Self.justUnder)
        try await Task.sleep(for: .milliseconds(30))
        #expect(!done.isSet, "the waiter must not give up before its timeout")
        cluster.clock.advance(by: Self.justUnder)
        let error = await #expect(throws: LockError.self) { try await waiter.value }
        #expect(error?.code == .timedOut)
        #expect(a.statistics == .init(keys: 1, holders: 1, waiters: 0), "the timed-out waiter is forgotten")
    }

    @Test func shorterExpiryWakesWaitersEarlier() async throws {
        let cluster = ManualLockCluster()
        let (a, b, c) = (cluster.node(), cluster.node(), cluster.node())
        let lease = try #require(try await a.tryAcquire("k", ttl: .seconds(100)))
        let first = try await startWaiter(b, cluster, ttl: .seconds(1), waiters: 1)
        let second = try await startWaiter(c, cluster, waiters: 2)
        // Both waiters sleep until t = 100 s; shortening the lease must wake them earlier.
        #expect(try await a.extend(lease, ttl: .seconds(2)))
        try await waitUntil("waiters sleep again") { cluster.clock.sleeperCount == 2 }
        cluster.clock.advance(by: .seconds(2))
        let firstLease = try await first.value // holds from t = 2 s to t = 3 s
        cluster.clock.advance(by: .seconds(1))
        let secondLease = try await second.value
        #expect(secondLease.fencingToken > firstLease.fencingToken)
        #expect(try await b.release(firstLease) == false, "the first waiter's 1 s lease has expired")
    }

    // MARK: Fairness

    @Test func releaseHandsTheLockToWaitersInArrivalOrder() async throws {
        let cluster = ManualLockCluster()
        let holder = cluster.node()
        let nodes = (0..<3).map { _ in cluster.node() }
        let first = try #require(try await holder.tryAcquire("k", ttl: .seconds(60)))
        var tasks: [Task<LockLease, any Error>] = []
        for (index, node) in nodes.enumerated() {
            tasks.append(try await startWaiter(node, cluster, waiters: index + 1))
        }
        var previous = first
        var releaser: MemoryLock<ManualClock> = holder
        for (index, task) in tasks.enumerated() {
            #expect(try await releaser.release(previous))
            // Handed over on release: a newcomer cannot take it, the next waiter in line has it.
            #expect(try await holder.tryAcquire("k", ttl: .seconds(60)) == nil)
            let lease = try await task.value
            #expect(lease.fencingToken > previous.fencingToken)
            #expect(holder.statistics.waiters == tasks.count - index - 1, "the later waiters still wait")
            previous = lease
            releaser = nodes[index]
        }
        #expect(try await releaser.release(previous))
        #expect(holder.statistics == .init(keys: 0, holders: 0, waiters: 0))
    }

    @Test func expiryHandsTheLockToTheLongestWaiterBeforeNewcomers() async throws {
        let cluster = ManualLockCluster()
        let (a, b, c, d) = (cluster.node(), cluster.node(), cluster.node(), cluster.node())
        _ = try #require(try await a.tryAcquire("k", ttl: .seconds(1)))
        let first = try await startWaiter(b, cluster, ttl: .seconds(1), waiters: 1)
        let second = try await startWaiter(c, cluster, ttl: .seconds(1), waiters: 2)
        cluster.clock.advance(by: .seconds(1))
        // Whether or not the first waiter has woken yet, the free lock is already its.
        #expect(try await d.tryAcquire("k", ttl: .seconds(1)) == nil, "a newcomer must not take a lock others wait for")
        let firstLease = try await first.value
        try await waitUntil("the second waiter sleeps until the new holder's expiry") { cluster.clock.sleeperCount == 1 }
        #expect(c.statistics.waiters == 1)
        cluster.clock.advance(by: .seconds(1))
        let secondLease = try await second.value
        #expect(secondLease.fencingToken > firstLease.fencingToken)
    }

    // MARK: Cancellation and close

    @Test func cancelledWaiterLeavesNothing() async throws {
        let cluster = ManualLockCluster()
        let (a, b, c) = (cluster.node(), cluster.node(), cluster.node())
        let lease = try #require(try await a.tryAcquire("k", ttl: .seconds(60)))
        let waiter = try await startWaiter(b, cluster, waiters: 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(a.statistics == .init(keys: 1, holders: 1, waiters: 0))
        try await waitUntil("the cancelled waiter's timer is gone") { cluster.clock.sleeperCount == 0 }
        #expect(try await a.release(lease))
        #expect(a.statistics == .init(keys: 0, holders: 0, waiters: 0))
        let next = try #require(try await c.tryAcquire("k", ttl: .seconds(60)))
        #expect(try await c.release(next))
    }

    /// Cancelling right after the lock was handed over either lets the waiter keep it (it
    /// returns the lease) or gives it back (it throws and nobody holds it): never an orphan.
    @Test(arguments: 0..<20)
    func cancelDuringHandOverNeverOrphansTheLock(_ round: Int) async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node())
        let lease = try #require(try await a.tryAcquire("k", ttl: .seconds(60)))
        let waiter = try await startWaiter(b, cluster, waiters: 1)
        #expect(try await a.release(lease))
        waiter.cancel()
        switch await waiter.result {
        case .success(let granted):
            #expect(a.statistics.holders == 1, "the waiter returned a lease, so it holds the lock")
            #expect(try await b.release(granted))
        case .failure(let error):
            #expect(error is CancellationError)
        }
        #expect(a.statistics == .init(keys: 0, holders: 0, waiters: 0), "round \(round): nothing left behind")
    }

    @Test func closeFailsWaitersButKeepsHeldLocksUntilTheirTTL() async throws {
        let cluster = ManualLockCluster()
        let (a, b, c) = (cluster.node(), cluster.node(), cluster.node())
        _ = try #require(try await a.tryAcquire("held-by-a", ttl: .seconds(5)))
        let held = try #require(try await c.tryAcquire("held-by-c", ttl: .seconds(60)))
        let waiter = try await startWaiter(a, cluster, key: "held-by-c", waiters: 1)
        await a.close()
        let error = await #expect(throws: LockError.self) { try await waiter.value }
        #expect(error?.code == .closed)
        await #expect(throws: LockError.closed) { try await a.tryAcquire("other", ttl: .seconds(1)) }
        #expect(try await b.tryAcquire("held-by-a", ttl: .seconds(1)) == nil, "a closed node's lock stays held until its TTL")
        cluster.clock.advance(by: .seconds(5))
        #expect(try await b.tryAcquire("held-by-a", ttl: .seconds(1)) != nil, "and is free after it")
        #expect(try await c.release(held))
        await a.close() // idempotent
    }

    // MARK: Memory and fencing

    @Test func tableForgetsReleasedKeys() async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node("other-app"))
        var leases: [LockLease] = []
        for index in 0..<100 {
            leases.append(try #require(try await a.tryAcquire("key-\(index)", ttl: .seconds(60))))
            _ = try #require(try await b.tryAcquire("key-\(index)", ttl: .seconds(60)))
        }
        #expect(a.statistics.keys == 200)
        for lease in leases { #expect(try await a.release(lease)) }
        #expect(a.statistics.keys == 100, "released keys of one app are forgotten at once")
    }

    @Test func tableForgetsExpiredKeysWithoutBeingAskedAboutThem() async throws {
        let cluster = ManualLockCluster()
        let a = cluster.node()
        for index in 0..<100 {
            _ = try #require(try await a.tryAcquire("key-\(index)", ttl: .seconds(1)))
        }
        cluster.clock.advance(by: .seconds(1))
        #expect(a.statistics.keys == 100, "expired holders stay until swept")
        // Work on an unrelated key triggers the amortised sweep.
        for _ in 0..<200 {
            let lease = try #require(try await a.tryAcquire("busy", ttl: .seconds(1)))
            #expect(try await a.release(lease))
        }
        #expect(a.statistics == .init(keys: 0, holders: 0, waiters: 0))
    }

    @Test func fencingKeepsIncreasingAfterTheKeyWasForgotten() async throws {
        let cluster = ManualLockCluster()
        let (a, b) = (cluster.node(), cluster.node())
        let first = try #require(try await a.tryAcquire("k", ttl: .seconds(1)))
        #expect(try await a.release(first))
        #expect(a.statistics.keys == 0)
        let second = try #require(try await b.tryAcquire("k", ttl: .seconds(1)))
        cluster.clock.advance(by: .seconds(1))
        let third = try #require(try await a.tryAcquire("k", ttl: .seconds(1)))
        #expect(first.fencingToken < second.fencingToken && second.fencingToken < third.fencingToken)
    }

    @Test func appsAreIsolated() async throws {
        let cluster = ManualLockCluster()
        let (one, two) = (cluster.node("one"), cluster.node("two"))
        let mine = try #require(try await one.tryAcquire("k", ttl: .seconds(1)))
        let theirs = try #require(try await two.tryAcquire("k", ttl: .seconds(1)))
        #expect(try await two.release(mine) == false)
        #expect(try await one.release(mine))
        #expect(try await two.release(theirs))
    }
}
