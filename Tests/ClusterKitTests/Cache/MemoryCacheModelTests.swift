import ClusterKit
import Testing

/// Random operation sequences checked step by step (stopping at the first divergence, since
/// everything after it would differ too) against a deliberately naive reference
/// model (a dictionary plus a recency array, scanned in full), on a ``ManualClock``. This
/// exercises what the hand-written cases cannot enumerate: slot reuse, stale expiry-heap
/// items, heap compaction, eviction mixed with expiry, and clear.
@Suite("Memory cache model check")
struct MemoryCacheModelTests {
    /// Small runs (6 keys, cap 7) hit every interleaving often; the larger ones (400 keys,
    /// some longer than 15 bytes and not ASCII, cap 150) make the table's index grow and
    /// shift entries back on removal, and compare keys byte by byte.
    @Test(arguments: [(UInt64(1), 6, 7), (2, 6, 7), (3, 6, 7), (42, 6, 7), (7, 400, 150), (8, 400, 150)])
    func randomOperationsMatchTheModel(seed: UInt64, keyCount: Int, capacity: Int) async throws {
        var random = SplitMix64(seed: seed)
        let clock = ManualClock()
        let backend = MemoryBackend()
        let nodes = (0..<2).map { _ in
            MemoryCacheStore(backend: backend, appName: "model", configuration: .init(maximumEntries: capacity), clock: clock)
        }
        var model = ReferenceCache(capacity: capacity)
        let caches: [CacheName] = ["c1", "c2"]
        let keys = (0..<keyCount).map { $0 % 3 == 0 ? "k\($0)-" + String(repeating: "é", count: $0 % 20) : "k\($0)" }
        let values = ["1", "-3", "x", "9223372036854775807", "0", "", "12"].map { Array($0.utf8) }
        let ttls: [Duration?] = [nil, nil, .zero, .seconds(-1), .seconds(1), .seconds(2), .seconds(5)]
        let deltas: [Int64] = [1, 1, -2, 5, .max]

        for step in 0..<3000 {
            let store = nodes[Int(random.next() % 2)]
            let cache = caches.randomElement(using: &random)!
            let key = keys.randomElement(using: &random)!
            let id = "\(cache)/\(key)"
            let ttl = ttls.randomElement(using: &random)!
            let context = Comment(rawValue: "seed \(seed) step \(step): \(id) ttl \(String(describing: ttl))")
            model.purge()
            switch random.next() % 13 {
            case 0:
                let expected = model.get(id)
                try #require(try await store.get(cache, key) == expected, context)
            case 1:
                let value = values.randomElement(using: &random)!
                try await store.set(cache, key, value, ttl: ttl)
                model.set(id, value, ttl: ttl)
            case 2:
                let value = values.randomElement(using: &random)!
                let expected = model.add(id, value, ttl: ttl)
                try #require(try await store.add(cache, key, value, ttl: ttl) == expected, context)
            case 3:
                let expected = model.delete(id)
                try #require(try await store.delete(cache, key) == expected, context)
            case 4:
                try #require(try await store.has(cache, key) == model.has(id), context)
            case 5:
                let batch = (0..<3).map { _ in keys.randomElement(using: &random)! }
                var expected: [[UInt8]?] = []
                for key in batch { expected.append(model.get("\(cache)/\(key)")) }
                try #require(try await store.getMany(cache, batch) == expected, context)
            case 6:
                let batch = (0..<2).map { _ in (key: keys.randomElement(using: &random)!, value: values.randomElement(using: &random)!) }
                try await store.setMany(cache, batch, ttl: ttl)
                for entry in batch { model.set("\(cache)/\(entry.key)", entry.value, ttl: ttl) }
            case 7:
                let batch = (0..<3).map { _ in keys.randomElement(using: &random)! }
                var expected = 0
                for key in batch where model.delete("\(cache)/\(key)") { expected += 1 }
                try #require(try await store.deleteMany(cache, batch) == expected, context)
            case 8:
                let delta = deltas.randomElement(using: &random)!
                let actual: IncrementOutcome
                do { actual = .value(try await store.increment(cache, key, by: delta, ttl: ttl)) } catch { actual = .failed(error.code) }
                let expected = model.increment(id, by: delta, ttl: ttl)
                try #require(actual == expected, context)
            case 9:
                try #require(try await store.timeToLive(cache, key) == model.timeToLive(id), context)
            case 10:
                let expected = model.touch(id, ttl: ttl)
                try #require(try await store.touch(cache, key, ttl: ttl) == expected, context)
            case 11:
                if random.next() % 10 == 0 {
                    try await store.clear(cache)
                    model.clear(prefix: "\(cache)/")
                }
            default:
                let step = [Duration.zero, .nanoseconds(1), .milliseconds(400), .seconds(1)].randomElement(using: &random)!
                clock.advance(by: step)
                model.now += step
            }
        }
        model.purge()
        for cache in caches {
            for key in keys {
                let expected = model.get("\(cache)/\(key)")
                #expect(try await nodes[0].get(cache, key) == expected, "final state of \(cache)/\(key)")
            }
        }
    }
}

/// The semantics of ``MemoryCacheStore`` written as plainly as possible.
private struct ReferenceCache {
    struct Entry {
        var value: [UInt8]
        var deadline: Duration?
    }

    let capacity: Int
    var now: Duration = .zero
    private var entries: [String: Entry] = [:]
    /// Oldest use first.
    private var recency: [String] = []

    init(capacity: Int) { self.capacity = capacity }

    mutating func purge() {
        for (key, entry) in entries {
            if let deadline = entry.deadline, deadline <= now { _ = remove(key) }
        }
    }

    mutating func get(_ key: String) -> [UInt8]? {
        guard let entry = entries[key] else { return nil }
        use(key)
        return entry.value
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    mutating func set(_ key: String, _ value: [UInt8], ttl: Duration?) {
        if let ttl, ttl <= .zero {
            _ = remove(key)
            return
        }
        if entries[key] != nil {
            entries[key] = Entry(value: value, deadline: ttl.map { now + $0 })
            use(key)
        } else {
            insert(key, value, ttl: ttl)
        }
    }

    mutating func add(_ key: String, _ value: [UInt8], ttl: Duration?) -> Bool {
        if entries[key] != nil { return false }
        if let ttl, ttl <= .zero { return false }
        insert(key, value, ttl: ttl)
        return true
    }

    mutating func delete(_ key: String) -> Bool { remove(key) }

    mutating func increment(_ key: String, by delta: Int64, ttl: Duration?) -> IncrementOutcome {
        if let entry = entries[key] {
            guard let text = String(validating: entry.value, as: UTF8.self), let current = Int64(text),
                  String(current) == text
            else { return .failed(.notNumeric) }
            let (next, overflow) = current.addingReportingOverflow(delta)
            if overflow { return .failed(.notNumeric) }
            entries[key]!.value = Array(String(next).utf8)
            use(key)
            return .value(next)
        }
        if let ttl, ttl <= .zero { return .value(delta) }
        insert(key, Array(String(delta).utf8), ttl: ttl)
        return .value(delta)
    }

    func timeToLive(_ key: String) -> CacheTTL {
        guard let entry = entries[key] else { return .missing }
        guard let deadline = entry.deadline else { return .persistent }
        return .expires(in: deadline - now)
    }

    mutating func touch(_ key: String, ttl: Duration?) -> Bool {
        guard entries[key] != nil else { return false }
        if let ttl, ttl <= .zero { return remove(key) }
        entries[key]!.deadline = ttl.map { now + $0 }
        use(key)
        return true
    }

    mutating func clear(prefix: String) {
        for key in entries.keys where key.hasPrefix(prefix) { _ = remove(key) }
    }

    private mutating func insert(_ key: String, _ value: [UInt8], ttl: Duration?) {
        entries[key] = Entry(value: value, deadline: ttl.map { now + $0 })
        recency.append(key)
        while entries.count > capacity { _ = remove(recency[0]) }
    }

    private mutating func use(_ key: String) {
        recency.removeAll { $0 == key }
        recency.append(key)
    }

    private mutating func remove(_ key: String) -> Bool {
        guard entries.removeValue(forKey: key) != nil else { return false }
        recency.removeAll { $0 == key }
        return true
    }
}

enum IncrementOutcome: Equatable {
    case value(Int64)
    case failed(CacheError.Code)
}

/// A small seeded generator, so a failing sequence can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
