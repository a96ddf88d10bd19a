import ClusterKit
import ClusterKitRedis

/// Redis cache rows: `RedisCacheStore` (default pool, auto-pipelining) next to
/// `redis-benchmark` with the same client count and value size (3 bytes, redis-benchmark's
/// default `-d 3`), on one key as redis-benchmark uses without `-r`.
final class RedisCacheGroup: BenchGroup {
    static let get1Row = "redis cache get, 1 task"
    static let get1AffinityRow = "redis cache get, 1 task, connection affinity"
    static let get50Row = "redis cache get, 50 tasks"
    static let set50Row = "redis cache set, 50 tasks"
    static let batchRow = "redis cache mget/mset batch of 100"
    private static let cache: CacheName = "bench"
    private static let value = Array("xxx".utf8)
    private static let batchKeys = (0..<100).map { "batch:\($0)" }

    let rows = [
        BenchRowSpec(name: get1Row, unit: "ops/s", reference: "redis-benchmark -c 1 -t get", target: .ratio(atLeast: 0.9)),
        BenchRowSpec(name: get1AffinityRow, unit: "ops/s", reference: "redis-benchmark -c 1 -t get", target: .ratio(atLeast: 0.9),
                     note: "the same loop inside RedisCacheStore.withConnectionAffinity: the caller runs on the connection's thread, no hand-off per command"),
        BenchRowSpec(name: get50Row, unit: "ops/s", reference: "redis-benchmark -c 50 -t get", target: .ratio(atLeast: 2.0)),
        BenchRowSpec(name: set50Row, unit: "ops/s", reference: "redis-benchmark -c 50 -t set", target: .ratio(atLeast: 2.0)),
        BenchRowSpec(name: batchRow, unit: "keys/s", reference: "redis-benchmark -c 50 -P 16 -t get", target: .ratio(atLeast: 0.5),
                     note: "50 tasks, each alternating getMany and setMany of the same 100 keys; keys per second"),
    ]
    private let store: RedisCacheStore
    private let tool: RedisBenchmarkTool?

    init(url: String, tool: RedisBenchmarkTool?) async throws {
        store = RedisCacheStore(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)), appName: "bench")
        self.tool = tool
        try await store.set(Self.cache, "key", Self.value, ttl: nil)
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        let store = store
        let entries = Self.batchKeys.map { (key: $0, value: Self.value) }
        let getOnce: @Sendable (Int) async throws -> Int = { _ in try await store.get(Self.cache, "key") == nil ? 0 : 1 }
        func reference(_ arguments: [String]) async throws -> Double? {
            try await tool?.rate(arguments, duration: duration)
        }
        var samples: [String: BenchSample] = [:]
        samples[Self.get1Row] = try await interleaved(duration: duration) { slice in
            try await BenchClock.count(tasks: 1, duration: slice, getOnce)
        }
        samples[Self.get1AffinityRow] = try await interleaved(duration: duration) { slice in
            try await store.withConnectionAffinity {
                try await BenchClock.count(tasks: 1, duration: slice, getOnce)
            }
        }
        samples[Self.get50Row] = BenchSample(
            ours: try await BenchClock.rate(tasks: 50, duration: duration, getOnce),
            reference: try await reference(["-c", "50", "-t", "get"]))
        samples[Self.set50Row] = BenchSample(
            ours: try await BenchClock.rate(tasks: 50, duration: duration) { _ in
                try await store.set(Self.cache, "key", Self.value, ttl: nil)
                return 1
            },
            reference: try await reference(["-c", "50", "-t", "set"]))
        samples[Self.batchRow] = BenchSample(
            ours: try await BenchClock.rate(tasks: 50, duration: duration) { _ in
                try await store.setMany(Self.cache, entries, ttl: nil)
                return try await store.getMany(Self.cache, Self.batchKeys).count + entries.count
            },
            reference: try await reference(["-c", "50", "-P", "16", "-t", "get"]))
        return samples
    }

    /// One sample of a 1-task row: our loop and `redis-benchmark -c 1 -t get` alternate in
    /// slices of about ``sliceSeconds`` (ours, reference, reference, ours, … so that a
    /// steady drift of the machine weighs on both alike), each side running `duration`
    /// seconds in total; each side's rate is its operations summed over its slices divided
    /// by its seconds summed. A `-c 1` round trip on this VM swings several-fold between
    /// seconds (redis-benchmark alone: 2.7k–17.5k ops/s across repetitions), so two
    /// back-to-back 2-second runs compared different machines more than different clients.
    private func interleaved(duration: Double,
                             ours: (_ seconds: Double) async throws -> (operations: Int, seconds: Double)) async throws -> BenchSample {
        let slices = max(1, Int((duration / Self.sliceSeconds).rounded()))
        let slice = duration / Double(slices)
        var mine = (operations: 0, seconds: 0.0)
        var theirs = (operations: 0, seconds: 0.0)
        func runOurs() async throws {
            let run = try await ours(slice)
            mine.operations += run.operations
            mine.seconds += run.seconds
        }
        func runReference() async throws {
            // Short runs: no 1,000-request floor, which would make a slow slice long.
            guard let run = try await tool?.count(["-c", "1", "-t", "get"], duration: slice, minimumRequests: 100) else { return }
            theirs.operations += run.requests
            theirs.seconds += run.seconds
        }
        for index in 0..<slices {
            if index % 2 == 0 {
                try await runOurs()
                try await runReference()
            } else {
                try await runReference()
                try await runOurs()
            }
        }
        return BenchSample(ours: Double(mine.operations) / mine.seconds,
                           reference: theirs.seconds > 0 ? Double(theirs.operations) / theirs.seconds : nil)
    }

    /// The slice length of the interleaved 1-task rows.
    private static let sliceSeconds = 0.25

    func close() async { await store.close() }
}
