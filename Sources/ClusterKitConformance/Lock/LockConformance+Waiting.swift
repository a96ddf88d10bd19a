import ClusterKit

extension LockConformance {
    /// Checklist item 10 (timeouts, cancelled waiters) and what `close()` does to waiters.
    static let waitingCases: [LockCase] = [
        LockCase("lock.acquire-timeout", "acquire gives up with LockError.timedOut once its timeout has passed") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let lease = try await a.acquire("busy", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let clock = ContinuousClock()
            let start = clock.now
            try await checkThrows(LockError.self, "acquire with a 250 ms timeout of a held lock", where: { $0.code == .timedOut }) {
                try await b.acquire("busy", ttl: LockCheck.longTTL, timeout: .milliseconds(250))
            }
            let waited = clock.now - start
            try check(waited >= .milliseconds(200), "acquire with a 250 ms timeout gave up after only \(waited)")
            try check(waited < LockCheck.soon, "acquire with a 250 ms timeout gave up only after \(waited)")
            try await checkThrows(LockError.self, "acquire with a zero timeout of a held lock", where: { $0.code == .timedOut }) {
                try await b.acquire("busy", ttl: LockCheck.longTTL, timeout: .zero)
            }
            try check(try await a.release(lease), "the holder's release returned false after timed-out waiters")
            let free = try await b.acquire("busy", ttl: LockCheck.longTTL, timeout: .zero)
            try check(try await b.release(free), "release after acquiring a free lock with a zero timeout returned false")
        },

        LockCase("lock.cancelled-waiter-leaves-nothing", "cancelled waiters stop waiting and are never granted the lock later") { context in
            let nodes = try await context.makeNodes(4)
            let (a, b, c, d) = (nodes[0], nodes[1], nodes[2], nodes[3])
            let lease = try await a.acquire("contended", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let waiters = [b, c].map { node in
                Task { try await node.acquire("contended", ttl: LockCheck.longTTL, timeout: .seconds(20)) }
            }
            try await Task.sleep(for: .milliseconds(150))
            let clock = ContinuousClock()
            let start = clock.now
            for waiter in waiters { waiter.cancel() }
            for (index, waiter) in waiters.enumerated() {
                let result = await waiter.result
                if case .success(let granted) = result {
                    throw ConformanceFailure("cancelled waiter \(index + 1) returned a lease (\(granted)) while the lock was held")
                }
            }
            let took = clock.now - start
            try check(took < LockCheck.soon, "cancelled waiters returned only after \(took)")
            try check(try await a.release(lease), "the holder's release returned false after waiters were cancelled")
            // Nobody may be granted the lock on behalf of a cancelled waiter.
            let next = try await LockCheck.expectFree("contended", observer: d, "right after the release (cancelled waiters must be gone)")
            try await Task.sleep(for: .milliseconds(150))
            try check(try await d.extend(next, ttl: LockCheck.longTTL), "the new holder lost the lock after cancelled waiters were gone")
            try await LockCheck.expectHeld("contended", observer: b, "while the third party holds it")
            try check(try await d.release(next), "release by the third party returned false")
            let last = try await LockCheck.expectFree("contended", observer: c, "after the third party released")
            try check(try await c.release(last), "final release returned false")
        },

        LockCase("lock.close-fails-waiters", "closing a node fails its waiting acquires with LockError.closed and then every call") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let waiter = Task { try await b.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(150))
            await b.close()
            let result = await waiter.result
            switch result {
            case .failure(let error as LockError) where error.code == .closed: break
            default: throw ConformanceFailure("a waiting acquire on a node being closed must throw LockError.closed, but \(LockCheck.describe(result))")
            }
            try await checkThrows(LockError.self, "tryAcquire on a closed node", where: { $0.code == .closed }) {
                try await b.tryAcquire("other", ttl: LockCheck.longTTL)
            }
            try await LockCheck.expectHeld("res", observer: c, "after another node closed")
            try check(try await a.release(lease), "the holder's release returned false after another node closed")
            let next = try await LockCheck.expectFree("res", observer: c, "after release (the closed node's waiter must be gone)")
            try check(try await c.release(next), "final release returned false")
        },
    ]
}
