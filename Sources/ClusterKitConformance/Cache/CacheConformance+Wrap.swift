import ClusterKit

/// Checklist items 10 and 12: single-flight `wrap`, unencodable values.
extension CacheConformance {
    static let wrapCases: [CacheCase] = [
        CacheCase("cache.wrap-single-flight", "100 concurrent wrap calls on a cold key run the computation once and all get its value; later calls hit the cache") { context in
            let manager = CacheManager(store: try await context.makeNode())
            let cache = manager.cache("wrap" as CacheName)
            let callers = 100
            let started = Collector<Int>()
            let computations = Collector<Int>()
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<callers {
                    group.addTask {
                        started.append(index)
                        return try await cache.wrap("cold", ttl: .seconds(60), as: Int.self) {
                            computations.append(index)
                            try await WrapGate.waitForAll(started, count: callers)
                            return 4242
                        }
                    }
                }
                var all: [Int] = []
                for try await value in group { all.append(value) }
                return all
            }
            try checkEqual(computations.count, 1, "computations for \(callers) concurrent wrap calls on one cold key")
            try check(results.count == callers && results.allSatisfy { $0 == 4242 },
                      "every caller should get 4242, got \(Set(results)) from \(results.count) callers")
            try await checkEqual(cache.get("cold", as: Int.self), 4242, "the computed value is stored")
            let ttl = try await cache.timeToLive("cold")
            guard case .expires(let left) = ttl, left <= .seconds(60) else {
                throw ConformanceFailure("wrap with a 60 s TTL stores the value with that TTL, timeToLive says \(ttl)")
            }
            let again = try await cache.wrap("cold", as: Int.self) {
                computations.append(-1)
                return 0
            }
            try checkEqual(again, 4242, "wrap of a cached key")
            try checkEqual(computations.count, 1, "computations after wrap of a cached key")

            // A value written by anyone (here: another node) is what wrap returns.
            let other = CacheManager(store: try await context.makeNode()).cache("wrap" as CacheName)
            try await other.set("warm", "from another node")
            let warm = try await cache.wrap("warm", as: String.self) { "computed" }
            try checkEqual(warm, "from another node", "wrap of a key another node stored")
        },

        CacheCase("cache.wrap-error-not-cached", "An error thrown by the computation reaches every concurrent caller and is not cached") { context in
            let manager = CacheManager(store: try await context.makeNode())
            let cache = manager.cache("wrap" as CacheName)
            let callers = 100
            let started = Collector<Int>()
            let computations = Collector<Int>()
            let outcomes = await withTaskGroup(of: Result<Int, any Error>.self) { group in
                for index in 0..<callers {
                    group.addTask {
                        started.append(index)
                        do {
                            return .success(try await cache.wrap("failing", as: Int.self) {
                                computations.append(index)
                                try await WrapGate.waitForAll(started, count: callers)
                                throw WrapComputationFailed(token: 7)
                            })
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                var all: [Result<Int, any Error>] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let failures = outcomes.filter { outcome in
                if case .failure(let error) = outcome, let failed = error as? WrapComputationFailed { return failed.token == 7 }
                return false
            }
            try checkEqual(failures.count, callers, "callers that received the computation's own error")
            try checkEqual(computations.count, 1, "computations for \(callers) concurrent failing wrap calls")
            try await checkEqual(cache.has("failing"), false, "a failed computation must store nothing")
            let retried = try await cache.wrap("failing", as: Int.self) {
                computations.append(-1)
                return 99
            }
            try checkEqual(retried, 99, "wrap after a failed computation computes again")
            try checkEqual(computations.count, 2, "computations after the retry (the error must not be cached)")
            try await checkEqual(cache.get("failing", as: Int.self), 99, "the retried value is stored")
        },
    ]

    static let encodingCases: [CacheCase] = [
        CacheCase("cache.encoding-failure", "A value the codec cannot encode is an encodingFailed error and nothing is written") { context in
            let node = try await context.makeNode()
            let cache = CacheManager(store: node).cache("encoding" as CacheName)
            let isEncodingFailed = CacheCheck.isCode(.encodingFailed)
            try await cache.set("k", 1.5)
            try await checkThrows(CacheError.self, "set of Double.nan (JSON has no NaN)", where: isEncodingFailed) {
                try await cache.set("k", Double.nan)
            }
            try await checkEqual(cache.get("k", as: Double.self), 1.5, "the old value after a failed set")
            try await checkThrows(CacheError.self, "set of a value whose encode(to:) throws", where: isEncodingFailed) {
                try await cache.set("k", Unencodable())
            }
            try await checkEqual(cache.get("k", as: Double.self), 1.5, "the old value after a failed set")
            try await checkThrows(CacheError.self, "add of an unencodable value", where: isEncodingFailed) {
                try await cache.add("added", [1.0, .infinity])
            }
            try await checkEqual(cache.has("added"), false, "a failed add stores nothing")
            try await checkThrows(CacheError.self, "setMany with one unencodable value", where: isEncodingFailed) {
                try await cache.setMany([(key: "m1", value: 1.0), (key: "m2", value: .nan), (key: "m3", value: 3.0)])
            }
            try await checkEqual(cache.getMany(["m1", "m2", "m3"], as: Double.self), [nil, nil, nil], "a failed setMany stores nothing")
            try await checkThrows(CacheError.self, "wrap computing an unencodable value", where: isEncodingFailed) {
                try await cache.wrap("wrapped", as: Double.self) { .nan }
            }
            try await checkEqual(cache.has("wrapped"), false, "a wrap whose value cannot be encoded stores nothing")
        },
    ]
}

/// The error a failing `wrap` computation throws in the cases.
struct WrapComputationFailed: Error, Equatable {
    let token: Int
}

/// A value whose encoding always fails.
struct Unencodable: Codable, Sendable {
    struct Refused: Error {}
    init() {}
    init(from decoder: any Decoder) throws { throw Refused() }
    func encode(to encoder: any Encoder) throws { throw Refused() }
}

enum WrapGate {
    /// Holds a computation until every caller has started (so they are all concurrent), then a
    /// little longer so the callers reach the single-flight group; bounded so nothing hangs.
    static func waitForAll(_ started: Collector<Int>, count: Int) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while started.count < count, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}
