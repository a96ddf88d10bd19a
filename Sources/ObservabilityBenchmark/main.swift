// What instrumentation costs on the hottest path there is: a memory cache `get` loop, bare
// and through `InstrumentedCacheStore` with nothing bootstrapped (no-op metrics factory,
// NoOpTracer: the decorator skips spans), side by side in one run. Rounds alternate between
// the variants so machine noise hits both alike; the report gives each round's ratio and
// the median.
//
//   swift run -c release clusterkit-observability-bench [--gets N] [--rounds R]
//
// Times are process CPU time (all threads), which other processes on the machine disturb
// less than wall time. `--only bare|instrumented` runs one variant once (for profilers).
import ClusterKit
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    return parsed
}
let gets = option("--gets", default: 200_000)
let rounds = option("--rounds", default: 7)

let backend = MemoryBackend()
let bare: any CacheStore = MemoryCacheStore(backend: backend, appName: "bench")
let instrumented: any CacheStore = InstrumentedCacheStore(bare, adapter: "memory", observability: Observability())
let cache: CacheName = "bench"
try await bare.set(cache, "hit", Array("value".utf8), ttl: nil)

/// Process CPU time in nanoseconds (all threads): less disturbed than wall time by other
/// processes competing for the cores.
func cpuNanoseconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) * 1e9 + Double(spec.tv_nsec)
}

/// CPU nanoseconds per `get` over `gets` calls, half hits and half misses.
func measure(_ store: any CacheStore) async throws -> Double {
    let start = cpuNanoseconds()
    var found = 0
    for index in 0..<gets {
        if try await store.get(cache, index & 1 == 0 ? "hit" : "miss") != nil { found += 1 }
    }
    precondition(found == gets / 2 + gets % 2)
    return (cpuNanoseconds() - start) / Double(gets)
}

if let index = arguments.firstIndex(of: "--only"), index + 1 < arguments.count {
    let variant = arguments[index + 1]
    let store = variant == "instrumented" ? instrumented : bare
    print("\(variant): \(String(format: "%.1f", try await measure(store))) CPU ns/get (\(gets) gets)")
    exit(0)
}

_ = try await measure(bare)          // warm-up
_ = try await measure(instrumented)
var ratios: [Double] = []
var fastest = (bare: Double.infinity, instrumented: Double.infinity)
print("round  bare CPU ns/get  instrumented CPU ns/get  ratio")
for round in 1...rounds {
    let plain = try await measure(bare)
    let observed = try await measure(instrumented)
    ratios.append(observed / plain)
    fastest = (min(fastest.bare, plain), min(fastest.instrumented, observed))
    print("\(round)      \(String(format: "%8.1f", plain))         \(String(format: "%8.1f", observed))                \(String(format: "%.2f", observed / plain))")
}
let median = ratios.sorted()[ratios.count / 2]
print("median of round ratios instrumented/bare: \(String(format: "%.2f", median))")
print("fastest rounds: bare \(String(format: "%.1f", fastest.bare)) ns, instrumented \(String(format: "%.1f", fastest.instrumented)) ns, ratio \(String(format: "%.2f", fastest.instrumented / fastest.bare)) (\(gets) gets per round, \(rounds) rounds)")
