import ClusterKit

/// Checklist items 7 and 11: clear isolation, key validation, keys never escaping their
/// namespace.
extension CacheConformance {
    static let namespaceCases: [CacheCase] = [
        CacheCase("cache.clear-this-cache-only", "clear removes every key of the cache (from any node) and nothing of other caches, even ones whose name extends it") { context in
            let nodes = try await context.makeNodes(2)
            let target: CacheName = "alpha"
            let neighbours: [CacheName] = ["alphab", "alpha-2", "alph", "beta"]
            let keys = ["k", "k:1", "*", "a b", "键"]
            for key in keys {
                try await nodes[0].set(target, key, CacheCheck.bytes("target"), ttl: nil)
                for name in neighbours { try await nodes[1].set(name, key, CacheCheck.bytes(name.rawValue), ttl: nil) }
            }
            try await nodes[1].set(target, "written-by-b", CacheCheck.bytes("target"), ttl: .seconds(60))
            try await nodes[0].clear(target)
            for key in keys + ["written-by-b"] {
                try await CacheCheck.expectValue(nodes[1], target, key, nil, "the cleared cache")
            }
            for name in neighbours {
                for key in keys {
                    try await CacheCheck.expectValue(nodes[0], name, key, CacheCheck.bytes(name.rawValue), "clear(\(target)) must not touch cache \(name)")
                }
            }
            try await nodes[0].clear("never-used")
            try await nodes[0].set(target, "after", CacheCheck.bytes("v"), ttl: nil)
            try await CacheCheck.expectValue(nodes[1], target, "after", CacheCheck.bytes("v"), "the cleared cache stays usable")
        },

        CacheCase("cache.clear-this-app-only", "clear and every key live in the node's APP_NAME: another app with the same cache names is untouched") { context in
            let mine = try await context.makeNode()
            let otherApp = context.otherAppName()
            let theirs = try await context.makeNode(appName: otherApp)
            let cache: CacheName = "shared-name"
            try await mine.set(cache, "k", CacheCheck.bytes("mine"), ttl: nil)
            try await CacheCheck.expectValue(theirs, cache, "k", nil, "app \(otherApp) reading a key only \(context.appName) wrote")
            try await theirs.set(cache, "k", CacheCheck.bytes("theirs"), ttl: nil)
            try await theirs.set(cache, "only-theirs", CacheCheck.bytes("theirs"), ttl: nil)
            try await CacheCheck.expectValue(mine, cache, "k", CacheCheck.bytes("mine"), "a write by another app with the same cache and key")
            try await mine.clear(cache)
            try await CacheCheck.expectValue(mine, cache, "k", nil, "my app after clear")
            try await CacheCheck.expectValue(theirs, cache, "k", CacheCheck.bytes("theirs"), "clear in \(context.appName) must not touch app \(otherApp)")
            try await CacheCheck.expectValue(theirs, cache, "only-theirs", CacheCheck.bytes("theirs"), "clear in \(context.appName) must not touch app \(otherApp)")
            try await checkEqual(mine.delete(cache, "only-theirs"), false, "delete of another app's key")
            try await CacheCheck.expectValue(theirs, cache, "only-theirs", CacheCheck.bytes("theirs"), "after my app deleted the same key")
            try await theirs.clear(cache)
        },
    ]

    static let keyCases: [CacheCase] = [
        CacheCase("cache.key-empty-rejected", "An empty key and a key over 1 KiB are rejected with invalidKey by every operation; a rejected batch writes nothing") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "keys"
            let tooLong = String(repeating: "k", count: CacheKeyRules.maximumKeyLength + 1)
            for key in ["", tooLong] {
                let label = key.isEmpty ? "the empty key" : "a \(key.utf8.count)-byte key"
                let invalid = CacheCheck.isCode(.invalidKey)
                try await checkThrows(CacheError.self, "get with \(label)", where: invalid) { try await node.get(cache, key) }
                try await checkThrows(CacheError.self, "set with \(label)", where: invalid) { try await node.set(cache, key, [1], ttl: nil) }
                try await checkThrows(CacheError.self, "add with \(label)", where: invalid) { try await node.add(cache, key, [1], ttl: nil) }
                try await checkThrows(CacheError.self, "delete with \(label)", where: invalid) { try await node.delete(cache, key) }
                try await checkThrows(CacheError.self, "has with \(label)", where: invalid) { try await node.has(cache, key) }
                try await checkThrows(CacheError.self, "increment with \(label)", where: invalid) { try await node.increment(cache, key, by: 1, ttl: nil) }
                try await checkThrows(CacheError.self, "timeToLive with \(label)", where: invalid) { try await node.timeToLive(cache, key) }
                try await checkThrows(CacheError.self, "touch with \(label)", where: invalid) { try await node.touch(cache, key, ttl: nil) }
                try await checkThrows(CacheError.self, "getMany with \(label)", where: invalid) { try await node.getMany(cache, ["ok", key]) }
                try await checkThrows(CacheError.self, "deleteMany with \(label)", where: invalid) { try await node.deleteMany(cache, ["ok", key]) }
                try await checkThrows(CacheError.self, "setMany with \(label)", where: invalid) {
                    try await node.setMany(cache, [(key: "batch-ok", value: [1]), (key: key, value: [2])], ttl: nil)
                }
                try await CacheCheck.expectValue(node, cache, "batch-ok", nil, "a setMany rejected for \(label) must write nothing")
                let typed = CacheManager(store: node).cache(cache)
                try await checkThrows(CacheError.self, "Cache.set with \(label)", where: invalid) { try await typed.set(key, 1) }
            }
        },

        CacheCase("cache.key-long", "Keys up to 1 KiB (in UTF-8 bytes) work and stay distinct") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "keys"
            let limit = CacheKeyRules.maximumKeyLength
            let ascii = String(repeating: "x", count: limit - 1)
            let keys = [ascii + "a", ascii + "b", String(repeating: "é", count: limit / 2), String(repeating: "🔑", count: limit / 4)]
            for key in keys { try check(key.utf8.count == limit, "test setup: key should be \(limit) bytes, is \(key.utf8.count)") }
            for (index, key) in keys.enumerated() { try await nodes[0].set(cache, key, [UInt8(index)], ttl: nil) }
            for (index, key) in keys.enumerated() {
                try await CacheCheck.expectValue(nodes[1], cache, key, [UInt8(index)], "the \(limit)-byte key #\(index)")
            }
            try await checkEqual(nodes[1].deleteMany(cache, keys), keys.count, "deleteMany of the long keys")
        },

        CacheCase("cache.key-namespace", "Keys with ':', spaces, wildcards and Unicode work and never reach another cache, even when they look like its prefix") { context in
            let nodes = try await context.makeNodes(2)
            let a: CacheName = "a"
            let b: CacheName = "b"
            let odd = ["b:k", ":", "::", "a:b:c", " ", "with space", "trailing ", "*", "b:*", "?", "[ab]", "\\", "%s", "\n", "\u{0}", "ü:ß", "..", "/"]
            for (index, key) in odd.enumerated() { try await nodes[0].set(a, key, CacheCheck.bytes("a\(index)"), ttl: nil) }
            for (index, key) in odd.enumerated() {
                try await CacheCheck.expectValue(nodes[1], a, key, CacheCheck.bytes("a\(index)"), "key \(key.debugDescription)")
            }
            // Cache "a", key "b:k" must not be cache "b", key "k" (nor the reverse).
            try await CacheCheck.expectValue(nodes[1], b, "k", nil, "cache b / key k while only cache a / key \"b:k\" exists")
            try await nodes[1].set(b, "k", CacheCheck.bytes("b"), ttl: nil)
            try await CacheCheck.expectValue(nodes[0], a, "b:k", CacheCheck.bytes("a0"), "cache a / key \"b:k\" after writing cache b / key k")
            try await nodes[1].set(b, "*", CacheCheck.bytes("b*"), ttl: nil)
            try await nodes[0].clear(a)
            for key in odd { try await CacheCheck.expectValue(nodes[1], a, key, nil, "cache a after clear") }
            try await CacheCheck.expectValue(nodes[0], b, "k", CacheCheck.bytes("b"), "cache b after clearing cache a")
            try await CacheCheck.expectValue(nodes[0], b, "*", CacheCheck.bytes("b*"), "key \"*\" of cache b after clearing cache a")
            try await checkThrows(CacheError.self, "a cache name with ':'", where: CacheCheck.isCode(.invalidName)) {
                try CacheName(validating: "a:b")
            }
        },
    ]
}
