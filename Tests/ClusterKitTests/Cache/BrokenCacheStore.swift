import ClusterKit
import ClusterKitConformance
import Synchronization

/// A memory cache node with one deliberate defect, to prove the conformance cases catch it.
struct BrokenCacheStore: CacheStore {
    enum Flaw: String, CaseIterable, Sendable {
        /// `clear` wipes every cache the cluster has used, not just the named one.
        case clearWipesEveryCache
        /// `delete` always claims the key existed.
        case deleteAlwaysTrue
        /// `add` overwrites a present key.
        case addOverwrites
        /// `set`/`setMany` ignore a zero or negative TTL and store forever.
        case zeroTTLStoresForever
        /// `touch` of a missing key creates it.
        case touchRevives
        /// `increment` is a read, a pause and a write: lost updates under concurrency.
        case incrementNotAtomic
        /// Every increment (re)sets the TTL: a sliding instead of a fixed window.
        case incrementSlidesWindow
        /// `getMany` leaves the misses out instead of reporting them as nil.
        case getManyDropsMisses
        /// A local layer that is never invalidated (declares "two-level").
        case staleLocalCopies

        /// The case that must fail.
        var failingCase: String {
            switch self {
            case .clearWipesEveryCache: "cache.clear-this-cache-only"
            case .deleteAlwaysTrue: "cache.delete"
            case .addOverwrites: "cache.add"
            case .zeroTTLStoresForever: "cache.ttl-zero-not-stored"
            case .touchRevives: "cache.touch-never-revives"
            case .incrementNotAtomic: "cache.incr-atomic"
            case .incrementSlidesWindow: "cache.incr-ttl-on-first"
            case .getManyDropsMisses: "cache.get-many"
            case .staleLocalCopies: "cache.two-level-invalidation"
            }
        }
    }

    /// State shared by the broken nodes of one target (cache names seen) or kept per node
    /// (the stale local layer).
    final class Memory: Sendable {
        let cachesSeen = Mutex<Set<CacheName>>([])
        let localCopies = Mutex<[String: [UInt8]]>([:])
    }

    let base: MemoryCacheStore<ContinuousClock>
    let flaw: Flaw
    let shared: Memory
    let local = Memory()

    /// A target of broken nodes on one fresh backend.
    static func target(_ flaw: Flaw) -> ConformanceTarget<any CacheStore> {
        let backend = MemoryBackend()
        let shared = Memory()
        return .init(label: "broken-\(flaw.rawValue)", capabilities: flaw == .staleLocalCopies ? ["two-level"] : []) { options in
            BrokenCacheStore(base: MemoryCacheStore(backend: backend, appName: options.appName, nodeID: options.nodeID),
                             flaw: flaw, shared: shared)
        }
    }

    func close() async { await base.close() }

    func get(_ cache: CacheName, _ key: String) async throws -> [UInt8]? {
        if flaw == .staleLocalCopies {
            if let copy = local.localCopies.withLock({ $0["\(cache):\(key)"] }) { return copy }
            let value = try await base.get(cache, key)
            if let value { local.localCopies.withLock { $0["\(cache):\(key)"] = value } }
            return value
        }
        return try await base.get(cache, key)
    }

    func set(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws {
        seen(cache)
        try await base.set(cache, key, value, ttl: flaw == .zeroTTLStoresForever && (ttl ?? .seconds(1)) <= .zero ? nil : ttl)
    }

    func add(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws -> Bool {
        seen(cache)
        if flaw == .addOverwrites {
            try await base.set(cache, key, value, ttl: ttl)
            return true
        }
        return try await base.add(cache, key, value, ttl: ttl)
    }

    func delete(_ cache: CacheName, _ key: String) async throws -> Bool {
        let existed = try await base.delete(cache, key)
        return flaw == .deleteAlwaysTrue ? true : existed
    }

    func has(_ cache: CacheName, _ key: String) async throws -> Bool { try await base.has(cache, key) }

    func getMany(_ cache: CacheName, _ keys: [String]) async throws -> [[UInt8]?] {
        let values = try await base.getMany(cache, keys)
        return flaw == .getManyDropsMisses ? values.filter { $0 != nil } : values
    }

    func setMany(_ cache: CacheName, _ entries: [(key: String, value: [UInt8])], ttl: Duration?) async throws {
        seen(cache)
        try await base.setMany(cache, entries, ttl: flaw == .zeroTTLStoresForever && (ttl ?? .seconds(1)) <= .zero ? nil : ttl)
    }

    func deleteMany(_ cache: CacheName, _ keys: [String]) async throws -> Int { try await base.deleteMany(cache, keys) }

    func increment(_ cache: CacheName, _ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64 {
        seen(cache)
        switch flaw {
        case .incrementNotAtomic:
            let current = try await base.get(cache, key).flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? 0
            try await Task.sleep(for: .milliseconds(1))
            try await base.set(cache, key, Array(String(current + delta).utf8), ttl: ttl)
            return current + delta
        case .incrementSlidesWindow:
            let value = try await base.increment(cache, key, by: delta, ttl: ttl)
            if let ttl { try await base.touch(cache, key, ttl: ttl) }
            return value
        default:
            return try await base.increment(cache, key, by: delta, ttl: ttl)
        }
    }

    func timeToLive(_ cache: CacheName, _ key: String) async throws -> CacheTTL { try await base.timeToLive(cache, key) }

    func touch(_ cache: CacheName, _ key: String, ttl: Duration?) async throws -> Bool {
        if flaw == .touchRevives, try await !base.has(cache, key) {
            try await base.set(cache, key, [], ttl: ttl)
            return true
        }
        return try await base.touch(cache, key, ttl: ttl)
    }

    func clear(_ cache: CacheName) async throws {
        if flaw == .clearWipesEveryCache {
            for name in shared.cachesSeen.withLock({ $0 }) { try await base.clear(name) }
        }
        try await base.clear(cache)
    }

    private func seen(_ cache: CacheName) {
        shared.cachesSeen.withLock { _ = $0.insert(cache) }
    }
}
