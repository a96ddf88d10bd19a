import Synchronization
import ClusterKit

/// A wall clock in milliseconds since 1970 for driving a ``SnowflakeGenerator`` without
/// real waits: it moves when set, and when the generator sleeps on it (by the time slept).
final class VirtualWallClock: Sendable {
    private struct State {
        var now: Int64
        var sleeps: [Int64] = []
    }

    private let state: Mutex<State>

    init(milliseconds: Int64) {
        state = Mutex(State(now: milliseconds))
    }

    var now: Int64 { state.withLock { $0.now } }
    /// The milliseconds of every sleep so far.
    var sleeps: [Int64] { state.withLock { $0.sleeps } }

    func set(_ milliseconds: Int64) {
        state.withLock { $0.now = milliseconds }
    }

    func sleep(_ duration: Duration) async throws {
        try Task.checkCancellation()
        let milliseconds = duration.wholeMillisecondsRoundedUp
        state.withLock { state in
            state.now += milliseconds
            state.sleeps.append(milliseconds)
        }
    }

    func generator(layout: SnowflakeLayout, workerID: Int) -> SnowflakeGenerator {
        SnowflakeGenerator(layout: layout, workerID: { workerID }, now: { self.now }, sleep: { try await self.sleep($0) })
    }
}
