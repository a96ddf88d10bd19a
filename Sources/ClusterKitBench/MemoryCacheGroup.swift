import ClusterKit
import Synchronization

/// `memory cache get, 1 task`: `MemoryCacheStore.get` next to a `Dictionary` behind a
/// `Mutex`, both from one task, over the same 1,024 keys with 3-byte values.
final class MemoryCacheGroup: BenchGroup {
    static let getRow = "memory cache get, 1 task"
    private static let cache: CacheName = "bench"
    let rows = [BenchRowSpec(name: getRow, unit: "ops/s", reference: "[String: [UInt8]] behind a Mutex, same keys",
                             target: .ratio(atLeast: 0.8))]
    private let store: MemoryCacheStore<ContinuousClock>
    private let dictionary: LockedDictionary
    private let keys: [String]

    init() async throws {
        keys = (0..<1024).map { "key:\($0)" }
        store = MemoryCacheStore(backend: MemoryBackend(), appName: "bench", configuration: .init(maximumEntries: 4096), clock: ContinuousClock())
        var table: [String: [UInt8]] = [:]
        for key in keys {
            try await store.set(Self.cache, key, Array("xxx".utf8), ttl: nil)
            table[key] = Array("xxx".utf8)
        }
        dictionary = LockedDictionary(table)
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        let (store, dictionary, keys) = (store, dictionary, keys)
        let ours = try await Self.rate(keys: keys, duration: duration) { key in
            try await store.get(Self.cache, key)
        }
        let reference = try await Self.rate(keys: keys, duration: duration) { key in
            dictionary.get(key)
        }
        return [Self.getRow: BenchSample(ours: ours, reference: reference)]
    }

    /// Gets per second from one task, cycling through `keys`; a hit counts 1 (so the
    /// result is used and the lookup cannot be optimised away).
    private static func rate(keys: [String], duration: Double,
                             _ get: @escaping @Sendable (String) async throws -> [UInt8]?) async throws -> Double {
        let counter = Atomic<Int>(0)
        return try await BenchClock.rate(tasks: 1, duration: duration, batch: 1024) { _ in
            let index = counter.add(1, ordering: .relaxed).oldValue & 1023
            return try await get(keys[index]) == nil ? 0 : 1
        }
    }

    func close() async { await store.close() }
}

/// The reference: a plain `[String: [UInt8]]` behind a `Mutex`, in a class like the store.
final class LockedDictionary: Sendable {
    private let table: Mutex<[String: [UInt8]]>

    init(_ table: [String: [UInt8]]) { self.table = Mutex(table) }

    func get(_ key: String) -> [UInt8]? { table.withLock { $0[key] } }
}
