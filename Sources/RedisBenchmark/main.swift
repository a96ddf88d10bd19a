// clusterkit-redis-bench: cache GET/SET throughput from Swift next to redis-benchmark, on
// one private redis-server started for the run (see docs/benchmarks.md).
//
//   swift build -c release --product clusterkit-redis-bench
//   .build/release/clusterkit-redis-bench [--requests N] [--repetitions R] [--pool-size P]
//   .build/release/clusterkit-redis-bench --suite pubsub-queue [--messages N] [--jobs N] [--repetitions R]
import ClusterKit
import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation

struct Options {
    var requests = 100_000
    var repetitions = 3
    var poolSize = 2
    /// `cache` (the default), `pubsub-queue` (PubSubQueueSuite.swift), `pubsub` (its pub/sub
    /// part only), or `sequential`
    /// (only the 1-task Swift loops, no redis-benchmark: a small, repeatable workload for
    /// profiling with `valgrind --tool=callgrind`).
    var suite = "cache"
    var messages = 20_000
    var jobs = 20_000
    /// `--suite sequential` and `--suite pubsub` only: a running server to use instead of starting one (lets the
    /// workload run under valgrind, which cannot follow the process spawning a server).
    var url: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            let text = iterator.next()
            let value = text.flatMap(Int.init)
            switch (argument, value) {
            case ("--url", _) where text != nil: url = text
            case ("--suite", _) where ["cache", "pubsub-queue", "pubsub", "sequential"].contains(text ?? ""): suite = text!
            case ("--messages", let n?) where n > 0: messages = n
            case ("--jobs", let n?) where n > 0: jobs = n
            case ("--requests", let n?): requests = n
            case ("--repetitions", let n?): repetitions = n
            case ("--pool-size", let n?): poolSize = n
            default:
                FileHandle.standardError.write(Data("""
                    usage: clusterkit-redis-bench [--requests N] [--repetitions R] [--pool-size P]
                           clusterkit-redis-bench --suite pubsub-queue|pubsub [--messages N] [--jobs N] [--repetitions R] [--url URL]
                           clusterkit-redis-bench --suite sequential [--requests N] [--url URL]

                    """.utf8))
                exit(2)
            }
        }
    }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// `redis-benchmark -p PORT -t get,set -n N -c C -q` → (set, get) requests per second.
func redisBenchmark(port: Int, clients: Int, requests: Int) throws -> (set: Double, get: Double) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-benchmark")
    process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-t", "set,get", "-n", "\(requests)", "-c", "\(clients)", "-q"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    // Progress lines end in \r; the final ones look like "SET: 14084.51 requests per second, p50=…".
    let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r", with: "\n")
    func rate(_ name: String) -> Double {
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("\(name): ") && $0.contains("requests per second") }
        guard let line = lines.last, let number = line.dropFirst(name.count + 2).split(separator: " ").first else { return 0 }
        return Double(number) ?? 0
    }
    return (rate("SET"), rate("GET"))
}

/// Cache SET then GET ops/s through `RedisCacheStore`, with `tasks` concurrent tasks; with
/// `affinity`, each task runs inside `store.withConnectionAffinity` (on a connection's thread).
func swiftCache(_ store: RedisCacheStore, tasks: Int, requests: Int, affinity: Bool = false) async throws -> (set: Double, get: Double) {
    let cache: CacheName = "bench"
    let value = Array("xxx".utf8)
    let perTask = requests / tasks
    func measure(_ operation: @escaping @Sendable () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                if affinity {
                    group.addTask { try await store.withConnectionAffinity { for _ in 0..<perTask { try await operation() } } }
                } else {
                    group.addTask { for _ in 0..<perTask { try await operation() } }
                }
            }
            try await group.waitForAll()
        }
        return Double(perTask * tasks) / (clock.now - start).seconds
    }
    let set = try await measure { try await store.set(cache, "key", value, ttl: nil) }
    let get = try await measure { _ = try await store.get(cache, "key") }
    return (set, get)
}

let options = Options(CommandLine.arguments)
if options.suite == "pubsub-queue" || options.suite == "pubsub" {
    try await runPubSubQueueSuite(options, includeQueue: options.suite == "pubsub-queue")
    exit(0)
}
if options.suite == "sequential", let url = options.url {
    let store = RedisCacheStore(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)), appName: "bench")
    try await runSequential(store, requests: options.requests)
    exit(0)
}

/// The profiling workload of `--suite sequential`: 1 000 warm-up pairs, then `requests`
/// SETs and GETs from 1 task, plain, then with connection affinity.
func runSequential(_ store: RedisCacheStore, requests: Int) async throws {
    _ = try await swiftCache(store, tasks: 1, requests: 1_000)
    for affinity in [false, true] {
        let before = processUsage()
        let result = try await swiftCache(store, tasks: 1, requests: requests, affinity: affinity)
        let after = processUsage()
        let operations = Double(2 * requests)
        print(String(format: "1 task%@: SET %.0f/s, GET %.0f/s; per operation: %.1f µs CPU (user+sys), %.2f voluntary context switches",
                     affinity ? " with connection affinity" : "", result.set, result.get,
                     (after.cpuSeconds - before.cpuSeconds) / operations * 1e6, Double(after.switches - before.switches) / operations))
    }
    await store.close()
}

/// CPU seconds (user + system) and voluntary context switches of the whole process so far.
func processUsage() -> (cpuSeconds: Double, switches: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_nvcsw)
}

let server = try await RedisServer.start()
let store = RedisCacheStore(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: server.url(query: "pool_size=\(options.poolSize)"))),
                            appName: "bench")
if options.suite == "sequential" {
    try await runSequential(store, requests: options.requests)
    await server.stop()
    exit(0)
}
// Warm-up: connections, server, both code paths.
_ = try await swiftCache(store, tasks: 50, requests: 20_000)
_ = try redisBenchmark(port: server.port, clients: 50, requests: 20_000)

var samples: [String: (set: [Double], get: [Double])] = [:]
for _ in 0..<options.repetitions {
    for (label, run) in [
        ("redis-benchmark -c 1", { try redisBenchmark(port: server.port, clients: 1, requests: options.requests / 2) }),
        ("redis-benchmark -c 50", { try redisBenchmark(port: server.port, clients: 50, requests: options.requests) }),
    ] as [(String, () throws -> (set: Double, get: Double))] {
        let result = try run()
        samples[label, default: ([], [])].set.append(result.set)
        samples[label, default: ([], [])].get.append(result.get)
    }
    for (tasks, affinity) in [(1, false), (1, true), (50, false)] {
        let label = "Swift cache, \(tasks) task\(tasks == 1 ? "" : "s")\(affinity ? ", connection affinity" : "")"
        let result = try await swiftCache(store, tasks: tasks, requests: tasks == 1 ? options.requests / 2 : options.requests, affinity: affinity)
        samples[label, default: ([], [])].set.append(result.set)
        samples[label, default: ([], [])].get.append(result.get)
    }
}
await store.close()
await server.stop()

func format(_ value: Double) -> String { String(format: "%.0f", value) }
let order = ["redis-benchmark -c 1", "Swift cache, 1 task", "Swift cache, 1 task, connection affinity", "redis-benchmark -c 50", "Swift cache, 50 tasks"]
print("| run | SET ops/s (median) | GET ops/s (median) | SET samples | GET samples |")
print("|---|---|---|---|---|")
for label in order {
    let s = samples[label]!
    print("| \(label) | \(format(median(s.set))) | \(format(median(s.get))) | \(s.set.map(format).joined(separator: ", ")) | \(s.get.map(format).joined(separator: ", ")) |")
}
@MainActor func ratio(_ swift: String, _ reference: String, _ keyPath: KeyPath<(set: [Double], get: [Double]), [Double]>) -> String {
    String(format: "%.2f×", median(samples[swift]![keyPath: keyPath]) / median(samples[reference]![keyPath: keyPath]))
}
print("")
print("| ratio | SET | GET | target |")
print("|---|---|---|---|")
print("| 1 task / `-c 1` | \(ratio("Swift cache, 1 task", "redis-benchmark -c 1", \.set)) | \(ratio("Swift cache, 1 task", "redis-benchmark -c 1", \.get)) | ≥ 0.9× |")
print("| 1 task with connection affinity / `-c 1` | \(ratio("Swift cache, 1 task, connection affinity", "redis-benchmark -c 1", \.set)) | \(ratio("Swift cache, 1 task, connection affinity", "redis-benchmark -c 1", \.get)) | ≥ 0.9× |")
print("| 50 tasks / `-c 50` | \(ratio("Swift cache, 50 tasks", "redis-benchmark -c 50", \.set)) | \(ratio("Swift cache, 50 tasks", "redis-benchmark -c 50", \.get)) | ≥ 2× |")
print("")
print("requests per run: \(options.requests) (1-client/1-task runs: \(options.requests / 2)); repetitions: \(options.repetitions); pool size: \(options.poolSize); payload 3 bytes, one key")
