import ClusterKit

extension LockConformance {
    /// Checklist items 1-4: holding, contention, release by non-owners, late release.
    static let ownershipCases: [LockCase] = [
        LockCase("lock.acquire-release", "acquire holds the lock against other nodes; release frees it") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let lease = try await a.acquire("job", ttl: LockCheck.longTTL, timeout: .seconds(2))
            try checkEqual(lease.key, "job", "the lease's key")
            try await LockCheck.expectHeld("job", observer: b, "after acquire")
            try check(try await a.release(lease), "release by the holder must report that it held the lock, got false")
            let again = try await LockCheck.expectFree("job", observer: b, "after release")
            try check(again.ownerToken != lease.ownerToken, "a new acquisition must get a new owner token, got \(again.ownerToken) twice")
            try check(try await b.release(again), "release of the new holder returned false")
        },

        LockCase("lock.keys-independent", "locks on different keys do not affect each other") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let first = try await a.acquire("first", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let second = try await LockCheck.expectFree("second", observer: b, "'second' while 'first' is held")
            try check(try await b.release(second), "release of 'second' returned false")
            try await LockCheck.expectHeld("first", observer: b, "after releasing 'second'")
            try check(try await a.release(first), "release of 'first' returned false")
        },

        LockCase("lock.second-owner-blocked", "a second owner is refused without disturbing the holder, and gets the lock after release") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let tried = try await b.tryAcquire("res", ttl: LockCheck.longTTL)
            try check(tried == nil, "tryAcquire by a second node while held: expected nil, got \(tried.map(\.description) ?? "")")
            let reentrant = try await a.tryAcquire("res", ttl: LockCheck.longTTL)
            try check(reentrant == nil, "a second acquisition on the holder's own node must be refused too (locks are not reentrant), got \(reentrant.map(\.description) ?? "")")
            try await checkThrows(LockError.self, "acquire by a second node with a 150 ms timeout while held",
                                  where: { $0.code == .timedOut }) {
                try await b.acquire("res", ttl: LockCheck.longTTL, timeout: .milliseconds(150))
            }
            try check(try await a.extend(lease, ttl: LockCheck.longTTL),
                      "the holder could not extend after a refused second owner: the refusal disturbed the holder")
            try await LockCheck.expectHeld("res", observer: b, "after the refused attempts")
            try check(try await a.release(lease), "the holder's release returned false after a refused second owner")
            let second = try await LockCheck.expectFree("res", observer: b, "after the holder released")
            try check(second.fencingToken > lease.fencingToken,
                      "fencing token of the second owner (\(second.fencingToken)) must exceed the first's (\(lease.fencingToken))")
            try check(try await b.release(second), "release by the second owner returned false")
        },

        LockCase("lock.waiter-gets-released-lock", "a caller waiting in acquire gets the lock soon after the holder releases it") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let waiter = Task { try await b.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(100))
            try check(try await a.release(lease), "the holder's release returned false")
            let clock = ContinuousClock()
            let start = clock.now
            let result = await waiter.result
            guard case .success(let granted) = result else {
                throw ConformanceFailure("the waiting acquire should get the released lock, but \(LockCheck.describe(result))")
            }
            let waited = clock.now - start
            try check(waited < LockCheck.soon, "the waiter got the lock only \(waited) after the release")
            try await LockCheck.expectHeld("res", observer: c, "after the waiter got the lock")
            try check(try await b.release(granted), "release by the former waiter returned false")
        },

        LockCase("lock.non-owner-release-refused", "release with another owner's token is refused and leaves the lock held") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let forged = LockCheck.forged(lease)
            try check(!(try await b.release(forged)), "release by another node with a foreign owner token returned true")
            try check(!(try await a.release(forged)), "release on the holder's node with a foreign owner token returned true")
            try await LockCheck.expectHeld("res", observer: c, "after refused releases")
            try check(try await a.release(lease), "the holder's own release returned false after refused releases")
        },

        LockCase("lock.release-idempotent", "a second release of the same lease reports false and changes nothing") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            try check(try await a.release(lease), "the first release returned false")
            try check(!(try await a.release(lease)), "the second release of the same lease returned true")
            let next = try await LockCheck.expectFree("res", observer: b, "after the releases")
            try check(!(try await a.release(lease)), "a third release, now that another node holds the lock, returned true")
            try await LockCheck.expectHeld("res", observer: a, "after a stale release")
            try check(try await b.release(next), "the new holder's release returned false")
        },

        LockCase("lock.late-release", "after A's lease expired and B acquired, A's release does not free B's lock") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let stale = try await a.acquire("res", ttl: LockCheck.shortTTL, timeout: .seconds(2))
            let current = try await LockCheck.waitUntilFree("res", observer: b, "A's lease with a \(LockCheck.shortTTL) TTL")
            try check(!(try await a.release(stale)), "A's late release returned true although its lease had expired and B holds the lock")
            try await LockCheck.expectHeld("res", observer: c, "after A's late release (B must still hold it)")
            try check(try await b.extend(current, ttl: LockCheck.longTTL), "B could not extend after A's late release")
            try check(try await b.release(current), "B's release returned false after A's late release")
        },
    ]
}
