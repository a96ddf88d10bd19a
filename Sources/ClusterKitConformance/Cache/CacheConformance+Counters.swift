import ClusterKit

/// Checklist item 9: increment.
extension CacheConformance {
    static let counterCases: [CacheCase] = [
        CacheCase("cache.incr-atomic", "10 tasks × 100 increments spread over 2 nodes give 1000, each intermediate value exactly once") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "counters"
            let tasks = 10, increments = 100
            let seen = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for task in 0..<tasks {
                    let node = nodes[task % nodes.count]
                    group.addTask {
                        var values: [Int64] = []
                        for _ in 0..<increments { values.append(try await node.increment(cache, "hits", by: 1, ttl: nil)) }
                        return values
                    }
                }
                var all: [Int64] = []
                for try await values in group { all += values }
                return all
            }
            try await CacheCheck.expectValue(nodes[0], cache, "hits", CacheCheck.bytes("\(tasks * increments)"), "counter after \(tasks) × \(increments) increments")
            let sorted = seen.sorted()
            let expected = (1...Int64(tasks * increments)).map { $0 }
            if sorted != expected {
                let duplicates = Dictionary(grouping: seen, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(5)
                throw ConformanceFailure("increments should return each of 1...\(tasks * increments) once; duplicates include \(Array(duplicates))")
            }
            try await checkEqual(nodes[1].increment(cache, "hits", by: -1000, ttl: nil), 0, "decrement by 1000")
            try await checkEqual(nodes[1].increment(cache, "hits", by: -5, ttl: nil), -5, "decrement below zero")
        },

        CacheCase("cache.incr-text", "Counters are decimal text: bytes \"41\" increment to 42, read back as bytes \"42\" and as Int 42") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "counters"
            try await nodes[0].set(cache, "n", CacheCheck.bytes("41"), ttl: nil)
            try await checkEqual(nodes[1].increment(cache, "n", by: 1, ttl: nil), 42, "increment of bytes \"41\"")
            try await CacheCheck.expectValue(nodes[0], cache, "n", CacheCheck.bytes("42"), "the incremented value as bytes")
            try await nodes[0].set(cache, "negative", CacheCheck.bytes("-3"), ttl: nil)
            try await checkEqual(nodes[1].increment(cache, "negative", by: 1, ttl: nil), -2, "increment of bytes \"-3\"")
            try await nodes[0].set(cache, "max", CacheCheck.bytes(String(Int64.max - 1)), ttl: nil)
            try await checkEqual(nodes[1].increment(cache, "max", by: 1, ttl: nil), .max, "increment up to Int64.max")
            try await nodes[0].set(cache, "min", CacheCheck.bytes(String(Int64.min)), ttl: nil)
            try await checkEqual(nodes[1].increment(cache, "min", by: 0, ttl: nil), .min, "increment by 0 of Int64.min")

            let typed = CacheManager(store: nodes[0]).cache(cache)
            try await typed.set("typed", 10)
            try await checkEqual(typed.increment("typed", by: 5), 15, "Cache.increment of a typed Int 10")
            try await checkEqual(typed.get("typed", as: Int.self), 15, "the typed Int after increment")
            try await checkEqual(typed.increment("fresh", by: 3), 3, "Cache.increment of a missing key")
            try await checkEqual(typed.get("fresh", as: Int.self), 3, "a counter created by increment read as Int")
        },

        CacheCase("cache.incr-starts-at-zero", "A missing or expired key starts at 0; the old TTL does not carry over") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "counters"
            try await checkEqual(node.increment(cache, "new", by: 1, ttl: nil), 1, "increment of a missing key")
            try await checkEqual(node.increment(cache, "new-by-7", by: 7, ttl: nil), 7, "increment by 7 of a missing key")
            try await checkEqual(node.increment(cache, "new-negative", by: -2, ttl: nil), -2, "decrement of a missing key")
            try await node.set(cache, "expiring", CacheCheck.bytes("100"), ttl: CacheCheck.shortTTL)
            try await CacheCheck.waitUntilMissing(node, cache, "expiring", "a counter")
            try await checkEqual(node.increment(cache, "expiring", by: 1, ttl: nil), 1, "increment of an expired key")
            try await checkEqual(node.timeToLive(cache, "expiring"), .persistent, "a counter recreated without TTL must not keep the expired entry's TTL")
        },

        CacheCase("cache.incr-not-numeric", "Incrementing a value that is not a 64-bit decimal, or overflowing, is notNumeric and changes nothing") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "counters"
            let values = ["abc", "1.5", "", "12abc", "\"5\"", "99999999999999999999", "1e3"]
            for text in values {
                try await node.set(cache, "bad", CacheCheck.bytes(text), ttl: nil)
                try await checkThrows(CacheError.self, "increment of \(text.debugDescription)", where: CacheCheck.isCode(.notNumeric)) {
                    try await node.increment(cache, "bad", by: 1, ttl: nil)
                }
                try await CacheCheck.expectValue(node, cache, "bad", CacheCheck.bytes(text), "the value after a failed increment")
            }
            try await node.set(cache, "binary", [0xFF, 0x00, 0x31], ttl: nil)
            try await checkThrows(CacheError.self, "increment of binary bytes", where: CacheCheck.isCode(.notNumeric)) {
                try await node.increment(cache, "binary", by: 1, ttl: nil)
            }
            try await node.set(cache, "max", CacheCheck.bytes(String(Int64.max)), ttl: nil)
            try await checkThrows(CacheError.self, "increment past Int64.max", where: CacheCheck.isCode(.notNumeric)) {
                try await node.increment(cache, "max", by: 1, ttl: nil)
            }
            try await CacheCheck.expectValue(node, cache, "max", CacheCheck.bytes(String(Int64.max)), "the value after an overflowing increment")
            try await node.set(cache, "min", CacheCheck.bytes(String(Int64.min)), ttl: nil)
            try await checkThrows(CacheError.self, "decrement past Int64.min", where: CacheCheck.isCode(.notNumeric)) {
                try await node.increment(cache, "min", by: -1, ttl: nil)
            }
            let typed = CacheManager(store: node).cache(cache)
            try await typed.set("typed-string", "5")
            try await checkThrows(CacheError.self, "Cache.increment of a String value (JSON text with quotes)", where: CacheCheck.isCode(.notNumeric)) {
                try await typed.increment("typed-string")
            }
        },

        CacheCase("cache.incr-ttl-on-first", "The TTL is set by the increment that creates the key and not extended by later ones (a fixed window)") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "counters"
            let window = CacheCheck.shortTTL
            try await checkEqual(nodes[0].increment(cache, "window", by: 1, ttl: window), 1, "first increment of the window")
            let first = try await nodes[0].timeToLive(cache, "window")
            guard case .expires(let left) = first, left > .zero, left <= window else {
                throw ConformanceFailure("timeToLive after the first increment with a \(window) TTL: got \(first)")
            }
            try await checkEqual(nodes[1].increment(cache, "window", by: 1, ttl: .seconds(60)), 2, "second increment (other node, longer TTL)")
            let second = try await nodes[1].timeToLive(cache, "window")
            guard case .expires(let left2) = second, left2 <= window else {
                throw ConformanceFailure("a later increment must not extend the window: timeToLive should stay ≤ \(window), got \(second)")
            }
            try await checkEqual(nodes[1].increment(cache, "window", by: 1, ttl: nil), 3, "third increment without TTL")
            try check(try await nodes[1].timeToLive(cache, "window") != .persistent, "an increment with a nil TTL must not make the window persistent")
            try await CacheCheck.waitUntilMissing(nodes[0], cache, "window", "the counter window")
            try await checkEqual(nodes[0].increment(cache, "window", by: 1, ttl: window), 1, "first increment of the next window")
            try await nodes[0].set(cache, "plain", CacheCheck.bytes("5"), ttl: nil)
            try await checkEqual(nodes[0].increment(cache, "plain", by: 1, ttl: .seconds(30)), 6, "increment with a TTL of an existing persistent key")
            try await checkEqual(nodes[0].timeToLive(cache, "plain"), .persistent, "an increment of an existing key keeps its TTL (none)")
        },
    ]
}
