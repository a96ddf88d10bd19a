import ClusterKit
import Testing

/// Memory-specific behaviour, on a ``ManualClock`` so that expiry is checked to the
/// nanosecond without sleeping.
@Suite("Memory cache store")
struct MemoryCacheStoreTests {
    let clock = ManualClock()
    let backend = MemoryBackend()
    let cache: CacheName = "c"

    func node(app: String = "app", maximumEntries: Int = 2000) -> MemoryCacheStore<ManualClock> {
        MemoryCacheStore(backend: backend, appName: app, configuration: .init(maximumEntries: maximumEntries), clock: clock)
    }

    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: Expiry

    @Test func expiryIsExactForEveryOperation() async throws {
        let store = node()
        try await store.set(cache, "k", bytes("v"), ttl: .seconds(10))
        clock.advance(by: .seconds(10) - .nanoseconds(1))
        #expect(try await store.get(cache, "k") == bytes("v"))
        #expect(try await store.has(cache, "k"))
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .nanoseconds(1)))

        clock.advance(by: .nanoseconds(1))
        #expect(try await store.get(cache, "k") == nil)
        #expect(try await store.has(cache, "k") == false)
        #expect(try await store.timeToLive(cache, "k") == .missing)
        #expect(try await store.touch(cache, "k", ttl: .seconds(5)) == false)
        #expect(try await store.delete(cache, "k") == false)
        #expect(try await store.getMany(cache, ["k"]) == [nil])
        #expect(try await store.deleteMany(cache, ["k"]) == 0)
        #expect(try await store.add(cache, "k", bytes("fresh"), ttl: nil))
        #expect(try await store.get(cache, "k") == bytes("fresh"))
        #expect(try await store.timeToLive(cache, "k") == .persistent)
    }

    @Test func timeToLiveCountsDown() async throws {
        let store = node()
        try await store.set(cache, "k", bytes("v"), ttl: .seconds(10))
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .seconds(10)))
        clock.advance(by: .milliseconds(3_250))
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .milliseconds(6_750)))
        try await store.set(cache, "k", bytes("v2"), ttl: .seconds(1))
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .seconds(1)), "set replaces the TTL")
        try await store.set(cache, "k", bytes("v3"), ttl: nil)
        #expect(try await store.timeToLive(cache, "k") == .persistent, "set without TTL persists")
        clock.advance(by: .seconds(86_400 * 365))
        #expect(try await store.get(cache, "k") == bytes("v3"))
    }

    @Test func touchExtendsButNeverRevives() async throws {
        let store = node()
        try await store.set(cache, "k", bytes("v"), ttl: .seconds(1))
        clock.advance(by: .milliseconds(500))
        #expect(try await store.touch(cache, "k", ttl: .seconds(2)))
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .seconds(2)))
        clock.advance(by: .seconds(2) - .nanoseconds(1))
        #expect(try await store.has(cache, "k"), "the old deadline must no longer apply")
        clock.advance(by: .nanoseconds(1))
        #expect(try await store.has(cache, "k") == false)
        #expect(try await store.touch(cache, "k", ttl: nil) == false)
        #expect(try await store.has(cache, "k") == false)

        try await store.set(cache, "z", bytes("v"), ttl: nil)
        #expect(try await store.touch(cache, "z", ttl: .seconds(-1)), "a negative touch reports the key existed")
        #expect(try await store.has(cache, "z") == false, "and removes it")
    }

    @Test func zeroOrNegativeTTLStoresNothing() async throws {
        let store = node()
        try await store.set(cache, "k", bytes("v"), ttl: nil)
        try await store.set(cache, "k", bytes("w"), ttl: .zero)
        #expect(try await store.has(cache, "k") == false)
        #expect(try await store.add(cache, "k", bytes("v"), ttl: .nanoseconds(-1)) == false)
        #expect(try await store.increment(cache, "n", by: 3, ttl: .zero) == 3, "the increment still answers")
        #expect(try await store.has(cache, "n") == false, "but a zero-TTL window stores nothing")
        try await store.set(cache, "tiny", bytes("v"), ttl: .nanoseconds(1))
        #expect(try await store.has(cache, "tiny"), "a 1 ns TTL is positive: stored until the clock moves")
        clock.advance(by: .nanoseconds(1))
        #expect(try await store.has(cache, "tiny") == false)
    }

    // MARK: Counters

    @Test func incrementWindowIsFixed() async throws {
        let store = node()
        #expect(try await store.increment(cache, "hits", by: 1, ttl: .seconds(60)) == 1)
        clock.advance(by: .seconds(30))
        #expect(try await store.increment(cache, "hits", by: 1, ttl: .seconds(60)) == 2)
        #expect(try await store.timeToLive(cache, "hits") == .expires(in: .seconds(30)), "later increments keep the window")
        clock.advance(by: .seconds(30) - .nanoseconds(1))
        #expect(try await store.increment(cache, "hits", by: 1, ttl: .seconds(60)) == 3)
        clock.advance(by: .nanoseconds(1))
        #expect(try await store.get(cache, "hits") == nil, "the window closed")
        #expect(try await store.increment(cache, "hits", by: 1, ttl: .seconds(60)) == 1, "a new window starts at 0")
        #expect(try await store.timeToLive(cache, "hits") == .expires(in: .seconds(60)))
        #expect(try await store.get(cache, "hits") == bytes("1"))
    }

    @Test(arguments: ["+5", "007", "-0", " 5", "5 ", "0x10", "١٢", "--1", "-", "9223372036854775808", "-9223372036854775809"])
    func incrementRejectsNonCanonicalIntegers(text: String) async throws {
        let store = node()
        try await store.set(cache, "n", bytes(text), ttl: nil)
        let error = await #expect(throws: CacheError.self) { try await store.increment(cache, "n", by: 1, ttl: nil) }
        #expect(error?.code == .notNumeric)
        #expect(try await store.get(cache, "n") == bytes(text), "a failed increment changes nothing")
    }

    @Test(arguments: [("0", Int64(1)), ("-1", 0), ("9223372036854775806", .max), ("-9223372036854775808", .min + 1), ("10", 11)])
    func incrementAcceptsCanonicalIntegers(text: String, expected: Int64) async throws {
        let store = node()
        try await store.set(cache, "n", bytes(text), ttl: nil)
        #expect(try await store.increment(cache, "n", by: 1, ttl: nil) == expected)
        #expect(try await store.get(cache, "n") == bytes(String(expected)))
    }

    // MARK: LRU

    @Test func evictsLeastRecentlyUsedAtTheCap() async throws {
        let store = node(maximumEntries: 3)
        for key in ["a", "b", "c"] { try await store.set(cache, key, bytes(key), ttl: nil) }
        _ = try await store.get(cache, "a")                         // recency: b c a
        try await store.set(cache, "d", bytes("d"), ttl: nil)         // evicts b → c a d
        #expect(try await present(store, ["a", "b", "c", "d"]) == ["a", "c", "d"])

        try await store.set(cache, "c", bytes("c2"), ttl: nil)        // overwrite is use → a d c
        try await store.set(cache, "e", bytes("e"), ttl: nil)         // evicts a → d c e
        #expect(try await present(store, ["a", "c", "d", "e"]) == ["c", "d", "e"])

        _ = try await store.has(cache, "d")                           // has is not use
        _ = try await store.timeToLive(cache, "d")                    // nor is timeToLive
        _ = try? await store.increment(cache, "e", by: 0, ttl: nil)  // e is not numeric: fails, no use
        try await store.set(cache, "f", bytes("f"), ttl: nil)         // evicts d → c e f
        #expect(try await present(store, ["c", "d", "e", "f"]) == ["c", "e", "f"])

        #expect(try await store.touch(cache, "c", ttl: nil))          // touch is use → e f c
        #expect(try await store.add(cache, "e", bytes("x"), ttl: nil) == false) // a refused add is not use
        _ = try await store.getMany(cache, ["f"])                     // getMany is use → e c f
        try await store.set(cache, "g", bytes("g"), ttl: nil)         // evicts e → c f g
        #expect(try await present(store, ["c", "e", "f", "g"]) == ["c", "f", "g"])
    }

    @Test func incrementCountsAsUse() async throws {
        let store = node(maximumEntries: 2)
        #expect(try await store.increment(cache, "n", by: 1, ttl: nil) == 1)
        try await store.set(cache, "x", bytes("x"), ttl: nil)        // n x
        #expect(try await store.increment(cache, "n", by: 1, ttl: nil) == 2) // x n
        try await store.set(cache, "y", bytes("y"), ttl: nil)        // evicts x
        #expect(try await present(store, ["n", "x", "y"]) == ["n", "y"])
    }

    @Test func capCoversTheWholeStoreAcrossAppsCachesAndNodes() async throws {
        let first = node(app: "one", maximumEntries: 2)
        let second = node(app: "two", maximumEntries: 2)
        try await first.set("x", "a", bytes("1"), ttl: nil)
        try await second.set("y", "b", bytes("2"), ttl: nil)
        try await first.set("z", "c", bytes("3"), ttl: nil)
        #expect(try await first.has("x", "a") == false, "the oldest entry of the whole store is evicted")
        #expect(try await second.has("y", "b"))
        #expect(try await first.has("z", "c"))
    }

    @Test func expiredEntriesNeverPushOutLiveOnes() async throws {
        let store = node(maximumEntries: 2)
        try await store.set(cache, "old-live", bytes("1"), ttl: nil)
        try await store.set(cache, "expiring", bytes("2"), ttl: .seconds(1))
        clock.advance(by: .seconds(1))
        try await store.set(cache, "new", bytes("3"), ttl: nil)
        #expect(try await present(store, ["old-live", "expiring", "new"]) == ["new", "old-live"])
    }

    @Test func manyTTLRewritesKeepTheRightDeadline() async throws {
        let store = node(maximumEntries: 10)
        for round in 1...500 {
            try await store.set(cache, "k", bytes("\(round)"), ttl: .seconds(Int64(1000 + round)))
            if round % 7 == 0 { try await store.set(cache, "p\(round % 3)", bytes("p"), ttl: .seconds(5)) }
        }
        #expect(try await store.timeToLive(cache, "k") == .expires(in: .seconds(1500)))
        clock.advance(by: .seconds(1499))
        #expect(try await store.get(cache, "k") == bytes("500"))
        clock.advance(by: .seconds(1))
        #expect(try await store.get(cache, "k") == nil)
    }

    // MARK: Nodes and lifecycle

    @Test func nodesShareEntriesAndCloseIsPerNode() async throws {
        let a = node()
        let b = node()
        try await a.set(cache, "k", bytes("v"), ttl: nil)
        #expect(try await a.increment(cache, "n", by: 2, ttl: nil) == 2)
        await a.close()
        await a.close()
        let error = await #expect(throws: CacheError.self) { try await a.get(cache, "k") }
        #expect(error?.code == .closed)
        await #expect(throws: CacheError.self) { try await a.checkHealth() }
        try await b.checkHealth()
        #expect(try await b.get(cache, "k") == bytes("v"))
        #expect(try await b.increment(cache, "n", by: 1, ttl: nil) == 3)
        let later = node()
        #expect(try await later.get(cache, "k") == bytes("v"), "a node built after another closed still sees the data")
    }

    @Test func separateBackendsAreSeparateClusters() async throws {
        let a = node()
        let other = MemoryCacheStore(backend: MemoryBackend(), appName: "app", clock: clock)
        try await a.set(cache, "k", bytes("v"), ttl: nil)
        #expect(try await other.get(cache, "k") == nil)
    }

    @Test func registrationBuildsSharedNodesFromTheConfiguration() async throws {
        var registry = AdapterRegistry()
        registry.registerMemoryCache()
        #expect(registry.names(for: .cache) == ["memory"])
        let registration = try registry.registration(for: .cache, named: "memory", variable: "CACHE_DEFAULT_STORE")
        #expect(registration.isNetworked == false)
        let configuration = try ClusterConfiguration(values: ["APP_NAME": "shop", "CACHE_MEMORY_MAX": "2"])
        let memory = MemoryBackend()
        func context(_ node: String, _ configuration: ClusterConfiguration) -> AdapterContext {
            AdapterContext(primitive: .cache, adapterName: "memory", nodeID: NodeID(node), configuration: configuration,
                           url: nil, memory: memory, logger: .init(label: "test"))
        }
        let first = try await registry.makeCache(context("n1", configuration))
        let second = try await registry.makeCache(context("n2", configuration))
        let memoryStore = try #require(first as? MemoryCacheStore<ContinuousClock>)
        #expect(memoryStore.appName == "shop")
        #expect(memoryStore.configuration.maximumEntries == 2)

        try await first.set(cache, "a", bytes("1"), ttl: nil)
        #expect(try await second.get(cache, "a") == bytes("1"), "nodes of one backend share entries")
        try await second.set(cache, "b", bytes("2"), ttl: nil)
        try await second.set(cache, "c", bytes("3"), ttl: nil)
        #expect(try await first.has(cache, "a") == false, "CACHE_MEMORY_MAX=2 caps the store")

        let otherApp = try await registry.makeCache(context("n3", try ClusterConfiguration(values: ["APP_NAME": "blog"])))
        #expect(try await otherApp.get(cache, "b") == nil, "APP_NAME isolates")
    }

    // MARK: Helpers

    /// The keys of `keys` present in the store, sorted; checked with `has`, which does not
    /// count as use.
    func present(_ store: MemoryCacheStore<ManualClock>, _ keys: [String]) async throws -> [String] {
        var result: [String] = []
        for key in keys {
            if try await store.has(cache, key) { result.append(key) }
        }
        return result.sorted()
    }
}
