import ClusterKit

/// Closing nodes, and the optional two-level layer (checklist item 14).
extension CacheConformance {
    static let lifecycleCases: [CacheCase] = [
        CacheCase("cache.closed-rejects", "After close every operation of that node fails with closed; close is idempotent") { context in
            let node = try await context.makeNode()
            let cache: CacheName = "closing"
            try await node.set(cache, "k", [1], ttl: nil)
            await node.close()
            await node.close()
            let closed = CacheCheck.isCode(.closed)
            try await checkThrows(CacheError.self, "get after close", where: closed) { try await node.get(cache, "k") }
            try await checkThrows(CacheError.self, "set after close", where: closed) { try await node.set(cache, "k", [2], ttl: nil) }
            try await checkThrows(CacheError.self, "add after close", where: closed) { try await node.add(cache, "new", [2], ttl: nil) }
            try await checkThrows(CacheError.self, "delete after close", where: closed) { try await node.delete(cache, "k") }
            try await checkThrows(CacheError.self, "has after close", where: closed) { try await node.has(cache, "k") }
            try await checkThrows(CacheError.self, "getMany after close", where: closed) { try await node.getMany(cache, ["k"]) }
            try await checkThrows(CacheError.self, "setMany after close", where: closed) { try await node.setMany(cache, [(key: "k", value: [3])], ttl: nil) }
            try await checkThrows(CacheError.self, "deleteMany after close", where: closed) { try await node.deleteMany(cache, ["k"]) }
            try await checkThrows(CacheError.self, "increment after close", where: closed) { try await node.increment(cache, "n", by: 1, ttl: nil) }
            try await checkThrows(CacheError.self, "timeToLive after close", where: closed) { try await node.timeToLive(cache, "k") }
            try await checkThrows(CacheError.self, "touch after close", where: closed) { try await node.touch(cache, "k", ttl: nil) }
            try await checkThrows(CacheError.self, "clear after close", where: closed) { try await node.clear(cache) }
        },

        CacheCase("cache.close-keeps-shared-data", "Closing one node leaves the shared entries to the other nodes") { context in
            let first = try await context.makeNode()
            let cache: CacheName = "closing"
            try await first.set(cache, "k", CacheCheck.bytes("kept"), ttl: nil)
            _ = try await first.increment(cache, "counter", by: 5, ttl: nil)
            await first.close()
            let second = try await context.makeNode()
            try await CacheCheck.expectValue(second, cache, "k", CacheCheck.bytes("kept"), "a value written by a node that closed since")
            try await checkEqual(second.increment(cache, "counter", by: 1, ttl: nil), 6, "a counter incremented by a node that closed since")
        },
    ]

    static let twoLevelCases: [CacheCase] = [
        CacheCase("cache.two-level-invalidation", "A set, delete or clear on one node invalidates another node's local copy within the propagation bound", capability: "two-level") { context in
            let nodes = try await context.makeNodes(2)
            let (writer, reader) = (nodes[0], nodes[1])
            let cache: CacheName = "two-level"
            let bound = CacheConformance.twoLevelPropagationBound
            try await writer.set(cache, "k", CacheCheck.bytes("v1"), ttl: nil)
            try await writer.set(cache, "other", CacheCheck.bytes("o1"), ttl: nil)
            // Read twice so a two-level reader certainly holds local copies.
            for _ in 0..<2 {
                try await CacheCheck.expectValue(reader, cache, "k", CacheCheck.bytes("v1"), "the reader's first reads")
                try await CacheCheck.expectValue(reader, cache, "other", CacheCheck.bytes("o1"), "the reader's first reads")
            }
            try await writer.set(cache, "k", CacheCheck.bytes("v2"), ttl: nil)
            try await eventually("the reader sees the writer's overwrite within \(bound)", timeout: bound) {
                try await reader.get(cache, "k") == CacheCheck.bytes("v2")
            }
            try await writer.delete(cache, "k")
            try await eventually("the reader sees the writer's delete within \(bound)", timeout: bound) {
                try await reader.get(cache, "k") == nil
            }
            try await writer.clear(cache)
            try await eventually("the reader sees the writer's clear within \(bound)", timeout: bound) {
                try await reader.get(cache, "other") == nil
            }
        },
    ]
}
