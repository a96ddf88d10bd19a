import ClusterKit

/// Checklist item 8: TTL, timeToLive and touch.
extension CacheConformance {
    static let ttlCases: [CacheCase] = [
        CacheCase("cache.ttl-expires", "A key with a positive TTL is present at first and missing for every operation once the TTL passed") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "ttl"
            let clock = ContinuousClock()
            let start = clock.now
            try await nodes[0].set(cache, "k", CacheCheck.bytes("v"), ttl: CacheCheck.shortTTL)
            try await nodes[0].set(cache, "forever", CacheCheck.bytes("v"), ttl: nil)
            let early = try await nodes[1].get(cache, "k")
            if clock.now - start < CacheCheck.shortTTL {
                try check(early == CacheCheck.bytes("v"), "right after set with a \(CacheCheck.shortTTL) TTL the key should be present, got \(CacheCheck.show(early))")
            }
            try await CacheCheck.waitUntilMissing(nodes[1], cache, "k", "a key with a \(CacheCheck.shortTTL) TTL")
            try check(clock.now - start >= CacheCheck.shortTTL - .milliseconds(50), "the key expired after \(clock.now - start), before its \(CacheCheck.shortTTL) TTL")
            try await CacheCheck.expectValue(nodes[0], cache, "k", nil, "get after expiry")
            try await checkEqual(nodes[0].timeToLive(cache, "k"), .missing, "timeToLive after expiry")
            let many = try await nodes[0].getMany(cache, ["k", "forever"])
            try check(many == [nil, CacheCheck.bytes("v")], "getMany([k, forever]) after k expired: expected [nil, \"v\"], got \(many.map(CacheCheck.show))")
            try await checkEqual(nodes[0].deleteMany(cache, ["k"]), 0, "deleteMany of an expired key")
        },

        CacheCase("cache.ttl-zero-not-stored", "A zero or negative TTL stores nothing and removes an existing entry (set, setMany, add, a creating increment)") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "ttl"
            for ttl in [Duration.zero, .milliseconds(-1), .seconds(-60)] {
                try await node.set(cache, "new", CacheCheck.bytes("v"), ttl: ttl)
                try await checkEqual(node.has(cache, "new"), false, "set of a new key with TTL \(ttl)")
                try await node.set(cache, "existing", CacheCheck.bytes("old"), ttl: nil)
                try await node.set(cache, "existing", CacheCheck.bytes("new"), ttl: ttl)
                try await CacheCheck.expectValue(node, cache, "existing", nil, "set over an existing key with TTL \(ttl) should remove it")
                try await node.set(cache, "batch-existing", CacheCheck.bytes("old"), ttl: nil)
                try await node.setMany(cache, [(key: "batch-new", value: [1]), (key: "batch-existing", value: [2])], ttl: ttl)
                try await checkEqual(node.getMany(cache, ["batch-new", "batch-existing"]), [nil, nil], "setMany with TTL \(ttl)")
                try await checkEqual(node.add(cache, "added", CacheCheck.bytes("v"), ttl: ttl), false, "add with TTL \(ttl) stores nothing")
                try await checkEqual(node.has(cache, "added"), false, "has after add with TTL \(ttl)")
                try await checkEqual(node.increment(cache, "counter", by: 4, ttl: ttl), 4, "an increment creating a key with TTL \(ttl) still answers")
                try await checkEqual(node.has(cache, "counter"), false, "an increment creating a key with TTL \(ttl) stores nothing")
            }
            let typed = CacheManager(store: node).cache(cache)
            try await typed.set("typed", 1)
            try await typed.set("typed", 2, ttl: .zero)
            try await checkEqual(typed.get("typed", as: Int.self), nil, "Cache.set with a zero TTL over an existing key")
        },

        CacheCase("cache.ttl-nil-forever", "A nil TTL never expires, and set replaces an earlier TTL") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "ttl"
            try await node.set(cache, "forever", CacheCheck.bytes("v"), ttl: nil)
            try await checkEqual(node.timeToLive(cache, "forever"), .persistent, "timeToLive of a key set without TTL")
            try await node.set(cache, "was-short", CacheCheck.bytes("short"), ttl: CacheCheck.shortTTL)
            try await node.set(cache, "was-short", CacheCheck.bytes("long"), ttl: nil)
            try await checkEqual(node.timeToLive(cache, "was-short"), .persistent, "a set without TTL over a key with a TTL")
            try await Task.sleep(for: CacheCheck.shortTTL + .milliseconds(200))
            try await CacheCheck.expectValue(node, cache, "was-short", CacheCheck.bytes("long"), "after the replaced TTL would have passed")
            try await CacheCheck.expectValue(node, cache, "forever", CacheCheck.bytes("v"), "a key without TTL later on")
        },

        CacheCase("cache.ttl-long", "TTLs beyond 30 days (where memcached-style stores switch to timestamps) work") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "ttl"
            let day = Duration.seconds(86_400)
            for (index, ttl) in [day * 31, day * 400, day * 3650].enumerated() {
                let key = "long-\(index)"
                try await node.set(cache, key, CacheCheck.bytes("v"), ttl: ttl)
                try await CacheCheck.expectValue(node, cache, key, CacheCheck.bytes("v"), "a key with a \(ttl / day)-day TTL")
                let remaining = try await node.timeToLive(cache, key)
                guard case .expires(let left) = remaining, left <= ttl, left > ttl - .seconds(60) else {
                    throw ConformanceFailure("timeToLive of a key set with a \(ttl / day)-day TTL: expected close to \(ttl), got \(remaining)")
                }
            }
            try await checkEqual(node.add(cache, "added", CacheCheck.bytes("v"), ttl: day * 45), true, "add with a 45-day TTL")
            try await checkEqual(node.has(cache, "added"), true, "has after add with a 45-day TTL")
        },

        CacheCase("cache.ttl-reports-remaining", "timeToLive reports missing, persistent, or the remaining time within [0, ttl], decreasing") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "ttl"
            let ttl = Duration.seconds(10)
            try await checkEqual(node.timeToLive(cache, "missing"), .missing, "timeToLive of a missing key")
            try await node.set(cache, "k", CacheCheck.bytes("v"), ttl: ttl)
            let first = try await node.timeToLive(cache, "k")
            guard case .expires(let left1) = first, left1 > .zero, left1 <= ttl, left1 > ttl - .seconds(5) else {
                throw ConformanceFailure("timeToLive right after set with \(ttl): expected within (5 s, 10 s], got \(first)")
            }
            try await Task.sleep(for: .milliseconds(150))
            let second = try await node.timeToLive(cache, "k")
            guard case .expires(let left2) = second, left2 > .zero, left2 < left1 else {
                throw ConformanceFailure("timeToLive 150 ms later: expected less than \(left1), got \(second)")
            }
            try await node.set(cache, "p", CacheCheck.bytes("v"), ttl: nil)
            try await checkEqual(node.timeToLive(cache, "p"), .persistent, "timeToLive of a key without TTL")
            let typed = CacheManager(store: node).cache(cache)
            try await typed.set("typed", 1, ttl: .seconds(30))
            let typedTTL = try await typed.timeToLive("typed")
            guard case .expires(let left3) = typedTTL, left3 > .zero, left3 <= .seconds(30) else {
                throw ConformanceFailure("Cache.timeToLive after a 30 s set: got \(typedTTL)")
            }
        },

        CacheCase("cache.touch-extends", "touch replaces the TTL of a live key (extend, persist, zero removes) and reports whether it existed") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "touch"
            try await nodes[0].set(cache, "k", CacheCheck.bytes("v"), ttl: CacheCheck.shortTTL)
            try await checkEqual(nodes[1].touch(cache, "k", ttl: .seconds(30)), true, "touch of a live key")
            let extended = try await nodes[0].timeToLive(cache, "k")
            guard case .expires(let left) = extended, left > .seconds(20), left <= .seconds(30) else {
                throw ConformanceFailure("timeToLive after touch to 30 s: got \(extended)")
            }
            try await Task.sleep(for: CacheCheck.shortTTL + .milliseconds(200))
            try await CacheCheck.expectValue(nodes[0], cache, "k", CacheCheck.bytes("v"), "a touched key after its original TTL passed")
            try await checkEqual(nodes[1].touch(cache, "k", ttl: nil), true, "touch to persist")
            try await checkEqual(nodes[0].timeToLive(cache, "k"), .persistent, "timeToLive after touch(nil)")
            try await checkEqual(nodes[1].touch(cache, "k", ttl: .zero), true, "touch with a zero TTL of a live key")
            try await checkEqual(nodes[0].has(cache, "k"), false, "a key touched with a zero TTL is removed")
        },

        CacheCase("cache.touch-never-revives", "touch of a missing or expired key returns false and creates nothing") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "touch"
            try await checkEqual(nodes[0].touch(cache, "never", ttl: .seconds(30)), false, "touch of a key never written")
            try await checkEqual(nodes[0].has(cache, "never"), false, "has after touching a key never written")
            try await nodes[0].set(cache, "k", CacheCheck.bytes("v"), ttl: CacheCheck.shortTTL)
            try await CacheCheck.waitUntilMissing(nodes[1], cache, "k", "before touching it")
            try await checkEqual(nodes[1].touch(cache, "k", ttl: .seconds(30)), false, "touch of an expired key")
            try await checkEqual(nodes[1].touch(cache, "k", ttl: nil), false, "touch(nil) of an expired key")
            try await CacheCheck.expectValue(nodes[0], cache, "k", nil, "an expired key after touch")
            try await checkEqual(nodes[0].timeToLive(cache, "k"), .missing, "timeToLive of an expired key after touch")
            try await checkEqual(nodes[0].add(cache, "k", CacheCheck.bytes("fresh"), ttl: nil), true, "add after touch of an expired key")
        },
    ]
}
