import Foundation
import Testing

/// `clusterkit bench --json`: the output shape and row names, never the figures (no timing
/// assertions). Short durations and one repetition keep it cheap.
@Suite("clusterkit bench", .serialized)
struct BenchCLITests {
    static let rowFields: Set<String> = ["name", "ours", "reference", "ratio", "target", "met"]

    /// Runs `clusterkit bench --json --duration 0.2 --repetitions 1 ARGS…` and returns the
    /// rows of the one JSON object on stdout, and its context.
    func bench(_ arguments: [String]) async throws -> (rows: [[String: Any]], context: [String: Any]) {
        let output = try await CLIRunner.run(["bench", "--json", "--duration", "0.2", "--repetitions", "1"] + arguments, timeout: .seconds(180))
        #expect(output.status == 0, "bench failed: \(output.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
                                  "stdout is not one JSON object: \(output.stdout)")
        let rows = try #require(object["rows"] as? [[String: Any]], "no rows array in \(output.stdout)")
        for row in rows {
            #expect(Self.rowFields.isSubset(of: Set(row.keys)), "row lacks fields: \(row)")
            #expect(row["ours"] is NSNumber, "ours is not a number: \(row)")
        }
        return (rows, try #require(object["context"] as? [String: Any], "no context in \(output.stdout)"))
    }

    @Test("memory cache: one JSON object with the memory cache row, a reference and a ratio")
    func memoryCache() async throws {
        let (rows, context) = try await bench(["--primitive", "cache", "--backend", "memory"])
        #expect(rows.map { $0["name"] as? String } == ["memory cache get, 1 task"])
        #expect(rows.first?["reference"] is NSNumber, "the Dictionary reference is missing: \(rows)")
        #expect(rows.first?["ratio"] is NSNumber)
        #expect(rows.first?["target"] as? String == "≥ 0.8×")
        #expect((context["machineCores"] as? Int ?? 0) > 0)
    }

    @Test("redis lock: the bench starts its own redis-server and reports the lock row")
    func redisLock() async throws {
        let (rows, context) = try await bench(["--primitive", "lock", "--backend", "redis"])
        #expect(rows.map { $0["name"] as? String } == ["redis lock acquire+release, uncontended, 50 tasks"])
        #expect((context["redisServer"] as? String)?.contains("private redis-server") == true, "context: \(context)")
        #expect(context["redisServerVersion"] is String)
    }

    @Test("an unknown primitive is a usage error naming the valid ones")
    func unknownPrimitive() async throws {
        let output = try await CLIRunner.run(["bench", "--primitive", "caches"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("cache, pubsub, queue, lock, workerid, all"), "stderr: \(output.stderr)")
    }
}
