import ClusterKit

extension LockConformance {
    /// Checklist items 5-6: the TTL frees an abandoned lock; extend by the owner only.
    static let expiryCases: [LockCase] = [
        LockCase("lock.ttl-frees-lock", "a lock never released is free after its TTL and still held shortly before it") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let ttl = Duration.milliseconds(500)
            // Timed from before the call: the backend starts the TTL during `acquire`, so a
            // correct adapter frees the lock no sooner than `ttl` after `start` however long
            // the call (or a stalled scheduler after it) took. The tolerance covers clock
            // granularity only.
            let heldAtLeast = Duration.milliseconds(450)
            let clock = ContinuousClock()
            let start = clock.now
            _ = try await a.acquire("abandoned", ttl: ttl, timeout: .seconds(2))
            let lease = try await LockCheck.waitUntilFree("abandoned", observer: b, "a lock with a \(ttl) TTL, never released")
            let freedAfter = clock.now - start
            try check(freedAfter >= heldAtLeast,
                      "the lock with a \(ttl) TTL became free after only \(freedAfter); it must stay held until (about) the TTL")
            try check(try await b.release(lease), "release by the node that took the expired lock returned false")
        },

        LockCase("lock.extend-by-owner", "extend by the holder keeps the lock past its original TTL") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            // A 1 s TTL extended at 300 ms: only a stall of over 700 ms could let it lapse first.
            let lease = try await a.acquire("res", ttl: .seconds(1), timeout: .seconds(2))
            try await Task.sleep(for: .milliseconds(300))
            try check(try await a.extend(lease, ttl: .seconds(3)), "extend by the holder within its TTL returned false")
            try await Task.sleep(for: .milliseconds(900)) // now well past the original 1 s TTL
            try await LockCheck.expectHeld("res", observer: b, "1.2 s after acquiring with a 1 s TTL, extended to 3 s at 300 ms")
            try check(try await a.extend(lease, ttl: LockCheck.shortTTL), "a second extension by the holder returned false")
            let freed = try await LockCheck.waitUntilFree("res", observer: b, "after extending to a 400 ms TTL")
            try check(freed.fencingToken > lease.fencingToken,
                      "fencing token after expiry (\(freed.fencingToken)) must exceed the expired holder's (\(lease.fencingToken))")
            try check(try await b.release(freed), "release by the new holder returned false")
        },

        LockCase("lock.extend-refused-for-non-owner", "extend with another owner's token is refused and does not touch the lock") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let lease = try await a.acquire("res", ttl: LockCheck.longTTL, timeout: .seconds(2))
            let forged = LockCheck.forged(lease)
            try check(!(try await b.extend(forged, ttl: LockCheck.longTTL)), "extend by another node with a foreign owner token returned true")
            try check(!(try await a.extend(forged, ttl: LockCheck.longTTL)), "extend on the holder's node with a foreign owner token returned true")
            try await LockCheck.expectHeld("res", observer: c, "after refused extensions")
            try check(try await a.release(lease), "the holder's release returned false after refused extensions")
        },

        LockCase("lock.extend-refused-after-expiry", "an expired owner cannot extend: neither revive a free lock nor touch the next holder's") { context in
            let nodes = try await context.makeNodes(3)
            let (a, b, c) = (nodes[0], nodes[1], nodes[2])
            let ttl = Duration.milliseconds(250)
            // Expired, nobody took it since: extend must not bring it back.
            let lapsed = try await a.acquire("lapsed", ttl: ttl, timeout: .seconds(2))
            try await Task.sleep(for: ttl + .milliseconds(350))
            try check(!(try await a.extend(lapsed, ttl: LockCheck.longTTL)), "extend of a lease whose \(ttl) TTL had passed returned true")
            let revived = try await LockCheck.expectFree("lapsed", observer: b, "after a refused extension of an expired lease")
            try check(try await b.release(revived), "release by the node that took the lapsed lock returned false")
            // Expired and taken by another node: extend must not touch the new holder's lock.
            let stale = try await a.acquire("taken", ttl: ttl, timeout: .seconds(2))
            let current = try await LockCheck.waitUntilFree("taken", observer: b, "a lock with a \(ttl) TTL")
            try check(!(try await a.extend(stale, ttl: LockCheck.longTTL)), "extend by the expired owner returned true while another node holds the lock")
            try await LockCheck.expectHeld("taken", observer: c, "after the expired owner's refused extension")
            try check(try await b.release(current), "the new holder's release returned false after the expired owner's extension")
        },
    ]
}
