import ClusterKit

/// Checklist item 6: getMany / setMany / deleteMany.
extension CacheConformance {
    static let batchCases: [CacheCase] = [
        CacheCase("cache.get-many", "getMany keeps the order of the keys, reports misses as nil and handles repeated keys") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "batch"
            try await nodes[0].set(cache, "a", CacheCheck.bytes("A"), ttl: nil)
            try await nodes[0].set(cache, "c", CacheCheck.bytes("C"), ttl: nil)
            try await nodes[0].set(cache, "expired", CacheCheck.bytes("E"), ttl: CacheCheck.shortTTL)
            try await CacheCheck.waitUntilMissing(nodes[0], cache, "expired", "before getMany")
            let keys = ["c", "missing", "a", "expired", "c"]
            let values = try await nodes[1].getMany(cache, keys)
            let expected: [[UInt8]?] = [CacheCheck.bytes("C"), nil, CacheCheck.bytes("A"), nil, CacheCheck.bytes("C")]
            try check(values == expected, "getMany(\(keys)): expected \(expected.map(CacheCheck.show)), got \(values.map(CacheCheck.show))")

            let typed = CacheManager(store: nodes[1]).cache(cache)
            try await typed.set("n1", 1)
            try await typed.set("n3", 3)
            let numbers = try await typed.getMany(["n3", "n2", "n1"], as: Int.self)
            try check(numbers == [3, nil, 1], "Cache.getMany([n3, n2, n1]): expected [3, nil, 1], got \(numbers)")
        },

        CacheCase("cache.set-delete-many", "setMany stores every pair with the TTL; deleteMany removes them and counts the ones that existed") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "batch"
            let entries: [(key: String, value: [UInt8])] = (1...5).map { (key: "k\($0)", value: CacheCheck.bytes("v\($0)")) }
            try await nodes[0].setMany(cache, entries, ttl: nil)
            for entry in entries {
                try await CacheCheck.expectValue(nodes[1], cache, entry.key, entry.value, "after setMany")
                try await checkEqual(nodes[1].timeToLive(cache, entry.key), .persistent, "TTL of \(entry.key) after setMany without TTL")
            }
            try await nodes[0].setMany(cache, [(key: "k1", value: CacheCheck.bytes("new")), (key: "t", value: CacheCheck.bytes("t"))], ttl: .seconds(60))
            try await CacheCheck.expectValue(nodes[1], cache, "k1", CacheCheck.bytes("new"), "setMany overwrites")
            for key in ["k1", "t"] {
                let ttl = try await nodes[1].timeToLive(cache, key)
                guard case .expires(let remaining) = ttl, remaining > .zero, remaining <= .seconds(60) else {
                    throw ConformanceFailure("setMany with a 60 s TTL: \(key) should expire within 60 s, timeToLive says \(ttl)")
                }
            }
            let removed = try await nodes[1].deleteMany(cache, ["k1", "missing", "k3", "k3", "t"])
            try checkEqual(removed, 3, "deleteMany([k1, missing, k3, k3, t]) count of keys that existed")
            for key in ["k1", "k3", "t"] { try await CacheCheck.expectValue(nodes[0], cache, key, nil, "after deleteMany") }
            for key in ["k2", "k4", "k5"] { try await CacheCheck.expectValue(nodes[0], cache, key, CacheCheck.bytes("v\(key.dropFirst())"), "a key deleteMany was not asked to remove") }

            let typed = CacheManager(store: nodes[0]).cache(cache)
            try await typed.setMany([(key: "x", value: "X"), (key: "y", value: "Y")])
            try await checkEqual(typed.getMany(["y", "x"], as: String.self), ["Y", "X"], "Cache.setMany then getMany")
            try await checkEqual(typed.deleteMany(["x", "y", "z"]), 2, "Cache.deleteMany count")
        },

        CacheCase("cache.batch-empty", "Batches with no keys are accepted and change nothing") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "batch"
            try await node.set(cache, "k", CacheCheck.bytes("v"), ttl: nil)
            let values = try await node.getMany(cache, [])
            try check(values.isEmpty, "getMany([]) should return [], got \(values.count) values")
            try await node.setMany(cache, [], ttl: nil)
            try await node.setMany(cache, [], ttl: .seconds(1))
            try await checkEqual(node.deleteMany(cache, []), 0, "deleteMany([])")
            try await CacheCheck.expectValue(node, cache, "k", CacheCheck.bytes("v"), "an existing key after empty batches")
            let typed = CacheManager(store: node).cache(cache)
            try await checkEqual(typed.getMany([], as: Int.self), [], "Cache.getMany([])")
            try await typed.setMany([(key: String, value: Int)]())
            try await checkEqual(typed.deleteMany([]), 0, "Cache.deleteMany([])")
        },
    ]
}
