#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Issues snowflake IDs under the worker ID of a lease.
///
/// ## Guarantees
/// - IDs from one generator strictly increase, and no (timestamp, worker, sequence) is
///   issued twice by it.
/// - No ID is issued without a worker ID: when `workerID()` is `nil` (lease not acquired,
///   released or lost) ``next()`` throws ``SnowflakeError/Code/noWorkerID``. A worker ID the
///   layout cannot carry throws ``SnowflakeError/Code/workerIDOutOfRange``.
/// - When the sequence of the current time unit is used up, ``next()`` waits for the next
///   unit (up to 1 s with ``SnowflakeLayout/nocobase``).
/// - When the clock goes backwards, the generator keeps counting in the last unit it used
///   while the sequence lasts, then waits for the clock to pass that unit — but only if the
///   clock is at most ``maximumClockRollback`` behind; otherwise it throws
///   ``SnowflakeError/Code/clockMovedBackwards``. Either way nothing is reused.
/// - It never issues an ID in the time unit in which it first sees a worker ID (or sees it
///   change): the previous holder of that worker ID — another process that released it or
///   lost it moments ago — may have issued IDs in that unit. So the first ID after a lease
///   is acquired can wait up to one time unit. (Clocks of different nodes must agree to
///   within that much; keep them NTP-synchronised.)
///
/// Use one generator per worker ID in a process: two generators over the same lease would
/// issue the same IDs.
///
/// The fast path takes one short lock and does not suspend or allocate.
public final class SnowflakeGenerator: Sendable {
    private struct State {
        /// The time unit of the last ID issued (or reserved after a worker change).
        var units: Int64 = .min
        var sequence: Int = 0
        /// The worker ID of the last ID issued; -1 before the first.
        var workerID: Int = -1
    }

    private enum Step {
        case issued(Int64)
        case wait(milliseconds: Int64)
    }

    public let layout: SnowflakeLayout
    /// How far behind the last used timestamp the clock may be for ``next()`` to wait for
    /// it rather than fail.
    public let maximumClockRollback: Duration

    private let workerID: @Sendable () -> Int?
    private let now: @Sendable () -> Int64
    private let sleep: @Sendable (Duration) async throws -> Void
    private let maximumRollbackMilliseconds: Int64
    private let state = Mutex(State())

    /// - Parameters:
    ///   - layout: how IDs are built; NocoBase's by default.
    ///   - workerID: the worker ID to issue under, read on every ``next()``; `nil` refuses.
    ///   - now: the wall clock in milliseconds since 1970 (the system clock by default).
    ///   - maximumClockRollback: see the type's documentation; 1 s by default.
    ///   - sleep: how waits happen: ``defaultWait(_:)``; tests pass one that advances their `now`.
    public init(layout: SnowflakeLayout = .nocobase,
                workerID: @escaping @Sendable () -> Int?,
                now: @escaping @Sendable () -> Int64 = SnowflakeGenerator.systemMilliseconds,
                maximumClockRollback: Duration = .seconds(1),
                sleep: @escaping @Sendable (Duration) async throws -> Void = SnowflakeGenerator.defaultWait) {
        self.layout = layout
        self.workerID = workerID
        self.now = now
        self.sleep = sleep
        self.maximumClockRollback = maximumClockRollback
        self.maximumRollbackMilliseconds = max(0, maximumClockRollback.wholeMillisecondsRoundedUp)
    }

    /// A generator issuing under the worker ID `lease` holds: it refuses whenever
    /// ``WorkerIDLease/workerID`` is `nil`.
    public convenience init(layout: SnowflakeLayout = .nocobase, lease: WorkerIDLease, maximumClockRollback: Duration = .seconds(1)) {
        self.init(layout: layout, workerID: { lease.workerID }, maximumClockRollback: maximumClockRollback)
    }

    /// The next ID. Throws ``SnowflakeError`` (see the type's documentation), or
    /// `CancellationError` when the task is cancelled during a wait.
    public func next() async throws -> Int64 {
        while true {
            switch try issue() {
            case .issued(let id):
                return id
            case .wait(let milliseconds):
                try await sleep(.milliseconds(milliseconds))
            }
        }
    }

    /// The fields of `id` under this generator's layout.
    public func parse(_ id: Int64) -> SnowflakeParts {
        layout.parse(id)
    }

    /// The system's wall clock (`CLOCK_REALTIME`) in milliseconds since 1970-01-01 UTC.
    public static func systemMilliseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    /// How ``next()`` waits unless told otherwise: a sleep, except that a wait of at most a
    /// millisecond yields instead (and the generator then checks the clock again). The clock
    /// reads whole milliseconds, so "1 ms" often means a fraction of one, and a 1 ms timer
    /// overshoots: a millisecond layout issuing at full speed would lose a third of its rate
    /// to sleeping. Throws `CancellationError` when the task is cancelled.
    public static func defaultWait(_ duration: Duration) async throws {
        if duration <= .milliseconds(1) {
            try Task.checkCancellation()
            await Task.yield()
        } else {
            try await Task.sleep(for: duration)
        }
    }

    /// Issues an ID, or says how long to wait before trying again.
    @inline(__always)
    private func issue() throws(SnowflakeError) -> Step {
        guard let worker = workerID() else { throw SnowflakeError.noWorkerID }
        let layout = self.layout
        guard worker >= 0, worker <= layout.maximumWorkerID else {
            throw SnowflakeError.workerIDOutOfRange(worker, maximum: layout.maximumWorkerID)
        }
        let milliseconds = now()
        let units = layout.timeUnits(atMilliseconds: milliseconds)
        guard units >= 0, units <= layout.maximumTimestamp else {
            throw layout.timestampOutOfRange(milliseconds: milliseconds)
        }
        let maximumSequence = layout.maximumSequence
        let maximumRollback = maximumRollbackMilliseconds
        return try state.withLock { (state) throws(SnowflakeError) -> Step in
            if worker != state.workerID {
                // The current unit may hold IDs of the worker ID's previous holder: skip it.
                state.workerID = worker
                state.units = max(state.units, units)
                state.sequence = maximumSequence
            }
            if units > state.units {
                state.units = units
                state.sequence = 0
                return .issued(layout.compose(units: units, workerID: worker, sequence: 0))
            }
            // The clock is in the last used unit, or behind it: keep counting there.
            if state.sequence < maximumSequence {
                state.sequence += 1
                return .issued(layout.compose(units: state.units, workerID: worker, sequence: state.sequence))
            }
            guard state.units < layout.maximumTimestamp else {
                throw layout.timestampOutOfRange(milliseconds: layout.startMilliseconds(ofUnit: state.units + 1))
            }
            let behind = layout.startMilliseconds(ofUnit: state.units) - milliseconds
            if behind > maximumRollback {
                throw SnowflakeError(code: .clockMovedBackwards, message: "the clock is \(behind) ms behind the last issued timestamp (waiting at most \(maximumRollback) ms)")
            }
            return .wait(milliseconds: layout.startMilliseconds(ofUnit: state.units + 1) - milliseconds)
        }
    }
}
