import Foundation
import Synchronization

/// Monotonic time and the throughput loops every group uses.
enum BenchClock {
    /// Nanoseconds on the monotonic clock; comparable within one process, so a reading can
    /// travel in a payload from a publishing node to a subscribing node of the same process.
    static func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func seconds(since start: UInt64) -> Double { Double(nanoseconds() &- start) / 1e9 }

    /// Operations per second of `tasks` concurrent tasks, each calling `operation` until
    /// `duration` seconds have passed. `operation` returns how many operations it did (a
    /// batch call counts its keys). The clock is read every `batch` calls, so a
    /// nanosecond-scale operation is not dominated by clock reads.
    static func rate(tasks: Int, duration: Double, batch: Int = 1,
                     _ operation: @escaping @Sendable (_ task: Int) async throws -> Int) async throws -> Double {
        let (operations, seconds) = try await count(tasks: tasks, duration: duration, batch: batch, operation)
        return Double(operations) / seconds
    }

    /// Like ``rate(tasks:duration:batch:_:)``, but returns the operations and the seconds
    /// from the start to the return of the last task.
    static func count(tasks: Int, duration: Double, batch: Int = 1,
                      _ operation: @escaping @Sendable (_ task: Int) async throws -> Int) async throws -> (operations: Int, seconds: Double) {
        let start = nanoseconds()
        let deadline = start + UInt64(duration * 1e9)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var done = 0
                    repeat {
                        for _ in 0..<batch { done += try await operation(task) }
                    } while nanoseconds() < deadline
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return (total, seconds(since: start))
    }
}

/// Counts completions (handled jobs, deliveries) and waits, bounded, for a number of them.
final class BenchCounter: Sendable {
    private let count = Atomic<Int>(0)

    func increment() { count.add(1, ordering: .relaxed) }

    var value: Int { count.load(ordering: .relaxed) }

    /// Polls every millisecond until `target` were counted; throws after `timeout` seconds
    /// so a stalled consumer cannot hang the bench.
    func wait(for target: Int, timeout: Double, what: String) async throws {
        let deadline = BenchClock.nanoseconds() + UInt64(timeout * 1e9)
        while value < target {
            guard BenchClock.nanoseconds() < deadline else {
                throw BenchError("only \(value) of \(target) \(what) within \(BenchFormat.number(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// A bench failure with a message for the user.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
