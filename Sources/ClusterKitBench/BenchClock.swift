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
///
/// The waiter is resumed by the increment that reaches its target: nothing polls meanwhile.
/// (A 1 ms `Task.sleep` poll cost a dispatch timer, a wake-up of its manager thread and one
/// of a pool thread every millisecond, on the two cores the measured clients and servers
/// share, and only on our side of a row: the reference tools time themselves. On the
/// RabbitMQ consume row it was worth about 5 %.)
final class BenchCounter: Sendable {
    private let count = Atomic<Int>(0)
    /// The target of the waiting `wait`, `Int.max` while none waits.
    private let target = Atomic<Int>(.max)
    /// The waiting `wait`'s continuation, and whether it was released (target reached or
    /// timed out) — also before it was stored, so that it then returns at once.
    private let waiter = Mutex<(continuation: CheckedContinuation<Void, Never>?, released: Bool)>((nil, false))

    /// Counts one. Sequentially consistent with `wait`'s store of the target and its reading
    /// of the count, so either this sees the target or the waiter sees this count.
    func increment() {
        let value = count.add(1, ordering: .sequentiallyConsistent).newValue
        if value >= target.load(ordering: .sequentiallyConsistent) { release() }
    }

    var value: Int { count.load(ordering: .relaxed) }

    private func release() {
        waiter.withLock { state -> CheckedContinuation<Void, Never>? in
            state.released = true
            defer { state.continuation = nil }
            return state.continuation
        }?.resume()
    }

    /// Returns once `target` were counted; throws after `timeout` seconds so a stalled
    /// consumer cannot hang the bench. One waiter at a time.
    func wait(for target: Int, timeout: Double, what: String) async throws {
        waiter.withLock { $0 = (nil, false) }
        let watchdog = Task {
            // Cancelled (the wait is over): it must not release a later wait.
            guard (try? await Task.sleep(for: .seconds(timeout))) != nil else { return }
            release()
        }
        self.target.store(target, ordering: .sequentiallyConsistent)
        if count.load(ordering: .sequentiallyConsistent) >= target { release() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let released = waiter.withLock { state -> Bool in
                if !state.released { state.continuation = continuation }
                return state.released
            }
            if released { continuation.resume() }
        }
        self.target.store(.max, ordering: .sequentiallyConsistent)
        watchdog.cancel()
        guard value >= target else {
            throw BenchError("only \(value) of \(target) \(what) within \(BenchFormat.number(timeout)) s")
        }
    }
}

/// A bench failure with a message for the user.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
