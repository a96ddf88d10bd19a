// Helpers shared by the pub/sub and queue benchmarks: a monotonic nanosecond clock whose
// readings can travel in a payload, percentiles, and running `redis-benchmark`.
import Foundation
import Synchronization

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`); comparable within one process,
/// which is all the benchmark needs (publisher and subscribers are nodes of one process).
func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The value at fraction `p` (0…1) of `sorted` (nearest rank); 0 when empty.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Counts handled jobs and remembers when the `target`-th one was counted.
final class CompletionCounter: Sendable {
    let target: Int
    private let count = Atomic<Int>(0)
    private let finishedAt = Atomic<UInt64>(0)

    init(target: Int) { self.target = target }

    func increment() {
        let (_, now) = count.add(1, ordering: .relaxed)
        if now == target { finishedAt.store(monotonicNanoseconds(), ordering: .releasing) }
    }

    var value: Int { count.load(ordering: .relaxed) }

    /// Waits (polling every millisecond) until `target` were counted, and returns when that
    /// happened; throws after `timeout` so a stuck consumer cannot hang the benchmark.
    func waitForCompletion(timeout: Duration) async throws -> UInt64 {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let finished = finishedAt.load(ordering: .acquiring)
            if finished != 0 { return finished }
            guard clock.now < deadline else { throw BenchmarkFailure("only \(value) of \(target) jobs handled within \(timeout)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `redis-benchmark -h 127.0.0.1 -p PORT -q ARGS…` and returns the last
/// "requests per second" figure it printed (0 if none).
func redisBenchmarkRate(port: Int, _ arguments: [String]) throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-benchmark")
    // `-q` before ARGS: after a custom command it would become one of the command's arguments.
    process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    // Custom commands print e.g. "XADD benchstream * f v: 41152.26 requests per second, p50=…".
    let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r", with: "\n")
    guard let line = text.split(separator: "\n").last(where: { $0.contains("requests per second") }),
          let colon = line.range(of: ": ", options: .backwards),
          let number = line[colon.upperBound...].split(separator: " ").first else { return 0 }
    return Double(number) ?? 0
}
