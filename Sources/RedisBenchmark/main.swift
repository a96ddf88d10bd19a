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
    /// `cache` (the default) or `pubsub-queue` (PubSubQueueSuite.swift).
    var suite = "cache"
    var messages = 20_000
    var jobs = 20_000

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            let text = iterator.next()
            let value = text.flatMap(Int.init)
            switch (argument, value) {
            case ("--suite", _) where text == "cache" || text == "pubsub-queue": suite = text!
            case ("--messages", let n?) where n > 0: messages = n
            case ("--jobs", let n?) where n > 0: jobs = n
            case ("--requests", let n?): requests = n
            case ("--repetitions", let n?): repetitions = n
            case ("--pool-size", let n?): poolSize = n
            default:
                FileHandle.standardError.write(Data("""
                    usage: clusterkit-redis-bench [--requests N] [--repetitions R] [--pool-size P]
                           clusterkit-redis-bench --suite pubsub-queue [--messages N] [--jobs N] [--repetitions R]

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

/// Cache SET then GET ops/s through `RedisCacheStore`, with `tasks` concurrent tasks.
func swiftCache(_ store: RedisCacheStore, tasks: Int, requests: Int) async throws -> (set: Double, get: Double) {
    let cache: CacheName = "bench"
    let value = Array("xxx".utf8)
    let perTask = requests / tasks
    func measure(_ operation: @escaping @Sendable () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask { for _ in 0..<perTask { try await operation() } }
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
if options.suite == "pubsub-queue" {
    try await runPubSubQueueSuite(options)
    exit(0)
}
let server = try await RedisServer.start()
let store = RedisCacheStore(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: server.url(query: "pool_size=\(options.poolSize)"))),
                            appName: "bench")
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
    for tasks in [1, 50] {
        let label = "Swift cache, \(tasks) task\(tasks == 1 ? "" : "s")"
        let result = try await swiftCache(store, tasks: tasks, requests: tasks == 1 ? options.requests / 2 : options.requests)
        samples[label, default: ([], [])].set.append(result.set)
        samples[label, default: ([], [])].get.append(result.get)
    }
}
await store.close()
await server.stop()

func format(_ value: Double) -> String { String(format: "%.0f", value) }
let order = ["redis-benchmark -c 1", "Swift cache, 1 task", "redis-benchmark -c 50", "Swift cache, 50 tasks"]
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
print("| 50 tasks / `-c 50` | \(ratio("Swift cache, 50 tasks", "redis-benchmark -c 50", \.set)) | \(ratio("Swift cache, 50 tasks", "redis-benchmark -c 50", \.get)) | ≥ 2× |")
print("")
print("requests per run: \(options.requests) (1-client/1-task runs: \(options.requests / 2)); repetitions: \(options.repetitions); pool size: \(options.poolSize); payload 3 bytes, one key")
