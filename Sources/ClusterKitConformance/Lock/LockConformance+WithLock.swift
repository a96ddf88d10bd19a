import ClusterKit
import Synchronization

extension LockConformance {
    /// Checklist item 7: `withLock` releases on success and on throw, its watchdog keeps the
    /// lock past the TTL, and a lost lease cancels the body.
    static let withLockCases: [LockCase] = [
        LockCase("lock.with-lock-releases", "withLock holds the lock during the body and releases it on return and on throw") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let value = try await a.withLock("res", ttl: .seconds(5), timeout: .seconds(2)) { lease in
                try checkEqual(lease.key, "res", "the key of the lease handed to the body")
                try await LockCheck.expectHeld("res", observer: b, "inside withLock's body")
                return 42
            }
            try checkEqual(value, 42, "withLock's result")
            let after = try await LockCheck.expectFree("res", observer: b, "after withLock returned")
            try check(try await b.release(after), "release after withLock returned false")

            do {
                _ = try await a.withLock("res", ttl: .seconds(5), timeout: .seconds(2)) { _ -> Int in
                    throw BodyError(tag: 7)
                }
                throw ConformanceFailure("withLock whose body throws returned normally")
            } catch let error as BodyError {
                try checkEqual(error.tag, 7, "the error withLock rethrew")
            } catch let failure as ConformanceFailure {
                throw failure
            } catch {
                throw ConformanceFailure("withLock must rethrow the body's error, threw \(error)")
            }
            let afterThrow = try await LockCheck.expectFree("res", observer: b, "after withLock's body threw")
            try check(try await b.release(afterThrow), "release after withLock threw returned false")
        },

        LockCase("lock.with-lock-watchdog", "withLock keeps the lock held past its TTL while the body runs") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            // Extended every ttl/3: only a stall of over ~650 ms between extensions (a loaded
            // machine, a slow backend) could let the lease lapse. The body runs twice the TTL.
            let ttl = Duration.seconds(1)
            let checks = Collector<String>()
            do {
                try await a.withLock("long", ttl: ttl, timeout: .seconds(2)) { _ in
                    for elapsed in [500, 1000, 1500, 2000] {
                        try await Task.sleep(for: .milliseconds(500))
                        if let stolen = try await b.tryAcquire("long", ttl: ttl) {
                            checks.append("another node took the lock about \(elapsed) ms into a body under a \(ttl) TTL (\(stolen))")
                        }
                    }
                }
            } catch {
                if let problem = checks.values.first { throw ConformanceFailure(problem) }
                throw ConformanceFailure("withLock with a 2 s body under a \(ttl) TTL threw \(error)")
            }
            if let problem = checks.values.first { throw ConformanceFailure(problem) }
            let after = try await LockCheck.expectFree("long", observer: b, "after the long withLock body returned")
            try check(try await b.release(after), "release after the long withLock returned false")
        },

        LockCase("lock.with-lock-lease-lost", "when the watchdog cannot extend, withLock cancels the body and throws leaseLost") { context in
            let node = try await context.makeNode()
            let bodyCancelled = Mutex(false)
            let clock = ContinuousClock()
            let start = clock.now
            do {
                _ = try await node.withLock("lost", ttl: .milliseconds(300), timeout: .seconds(2)) { lease in
                    // Lose the lease behind withLock's back; its next extension is refused.
                    _ = try await node.release(lease)
                    do {
                        try await Task.sleep(for: .seconds(10))
                    } catch {
                        bodyCancelled.withLock { $0 = true }
                        throw error
                    }
                }
                throw ConformanceFailure("withLock returned normally although its lease was lost")
            } catch let error as LockError where error.code == .leaseLost {
                // expected
            } catch let failure as ConformanceFailure {
                throw failure
            } catch {
                throw ConformanceFailure("withLock with a lost lease must throw LockError.leaseLost, threw \(error)")
            }
            let took = clock.now - start
            try check(bodyCancelled.withLock { $0 }, "the body was not cancelled when the lease was lost")
            try check(took < LockCheck.soon, "withLock noticed the lost lease only after \(took) (TTL 300 ms)")
        },

        LockCase("lock.with-lock-cancel-releases", "cancelling the caller of withLock cancels the body and releases the lock") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let entered = Mutex(false)
            let task = Task {
                try await a.withLock("res", ttl: .seconds(5), timeout: .seconds(2)) { _ in
                    entered.withLock { $0 = true }
                    try await Task.sleep(for: .seconds(10))
                }
            }
            try await eventually("withLock's body starts", timeout: LockCheck.soon) { entered.withLock { $0 } }
            task.cancel()
            let clock = ContinuousClock()
            let start = clock.now
            let result = await task.result
            let took = clock.now - start
            if case .success = result { throw ConformanceFailure("cancelled withLock returned normally although its body was sleeping 10 s") }
            try check(took < LockCheck.soon, "cancelled withLock returned only after \(took)")
            let after = try await LockCheck.expectFree("res", observer: b, "right after the cancelled withLock returned")
            try check(try await b.release(after), "release after the cancelled withLock returned false")
        },
    ]
}

/// The error the cases' bodies throw, to check it comes back unchanged.
struct BodyError: Error, Equatable {
    let tag: Int
}
