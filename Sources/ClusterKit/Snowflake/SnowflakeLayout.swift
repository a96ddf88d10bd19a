/// How a snowflake ID is built: `timestamp << (workerBits + sequenceBits) | workerID <<
/// sequenceBits | sequence`, where `timestamp` counts time units since ``epochMilliseconds``,
/// and the whole ID fits ``totalBits`` bits (so it is never negative).
///
/// ``nocobase`` is NocoBase's 53-bit layout (IDs stay exact as JavaScript numbers);
/// ``milliseconds(epochMilliseconds:workerBits:sequenceBits:)`` builds 63-bit
/// millisecond layouts like Twitter's.
public struct SnowflakeLayout: Sendable, Hashable, CustomStringConvertible {
    /// The resolution of the timestamp field.
    public enum TimeUnit: Sendable, Hashable {
        case seconds
        case milliseconds

        /// The unit's length in milliseconds.
        public var milliseconds: Int64 {
            switch self {
            case .seconds: 1000
            case .milliseconds: 1
            }
        }
    }

    /// The time of timestamp 0, in milliseconds since 1970-01-01 UTC.
    public let epochMilliseconds: Int64
    public let timeUnit: TimeUnit
    public let workerBits: Int
    public let sequenceBits: Int
    /// The width of an ID; the timestamp gets what worker and sequence leave.
    public let totalBits: Int

    /// Defines a layout. Throws ``SnowflakeError/Code/invalidLayout`` unless
    /// `1 ≤ totalBits ≤ 63`, the bit counts are not negative, the timestamp keeps at least
    /// one bit, and the epoch is not before 1970.
    public init(epochMilliseconds: Int64, timeUnit: TimeUnit, workerBits: Int, sequenceBits: Int, totalBits: Int = 63) throws(SnowflakeError) {
        func invalid(_ why: String) -> SnowflakeError {
            SnowflakeError(code: .invalidLayout, message: "invalid snowflake layout: \(why)")
        }
        guard (1...63).contains(totalBits) else { throw invalid("totalBits must be 1...63 (got \(totalBits))") }
        guard workerBits >= 0, sequenceBits >= 0 else {
            throw invalid("bit counts must not be negative (worker \(workerBits), sequence \(sequenceBits))")
        }
        guard workerBits + sequenceBits < totalBits else {
            throw invalid("worker (\(workerBits)) + sequence (\(sequenceBits)) bits leave no timestamp bits in \(totalBits)")
        }
        guard epochMilliseconds >= 0 else { throw invalid("the epoch must not be before 1970 (got \(epochMilliseconds) ms)") }
        self.epochMilliseconds = epochMilliseconds
        self.timeUnit = timeUnit
        self.workerBits = workerBits
        self.sequenceBits = sequenceBits
        self.totalBits = totalBits
    }

    /// NocoBase's layout: 53 bits, `(seconds − 1605024000) · 2^21 + workerID · 2^16 +
    /// sequence` — seconds since 2020-11-11 UTC, 5 worker bits (IDs 0–31), 16 sequence bits
    /// (65,536 IDs per second per worker). Timestamps last until about 2156.
    public static let nocobase: SnowflakeLayout = {
        do {
            return try SnowflakeLayout(epochMilliseconds: 1_605_024_000_000, timeUnit: .seconds, workerBits: 5, sequenceBits: 16, totalBits: 53)
        } catch {
            preconditionFailure("the NocoBase layout is valid: \(error)")
        }
    }()

    /// A 63-bit millisecond layout; the timestamp gets the bits worker and sequence leave.
    /// The defaults keep NocoBase's field widths — 5 worker bits (IDs 0–31, the default
    /// `WORKER_ID_MAX`) and 16 sequence bits (65,536 IDs per millisecond per worker) — which
    /// leaves 42 timestamp bits: about 139 years from the epoch (NocoBase's by default,
    /// 2020-11-11 UTC). For a larger `WORKER_ID_MAX` pass more worker bits; Twitter's layout
    /// is 10 worker and 12 sequence bits (4,096 IDs per millisecond, 41 timestamp bits).
    public static func milliseconds(epochMilliseconds: Int64 = 1_605_024_000_000, workerBits: Int = 5, sequenceBits: Int = 16) throws(SnowflakeError) -> SnowflakeLayout {
        try SnowflakeLayout(epochMilliseconds: epochMilliseconds, timeUnit: .milliseconds, workerBits: workerBits, sequenceBits: sequenceBits, totalBits: 63)
    }

    // MARK: Field limits

    public var timestampBits: Int { totalBits - workerBits - sequenceBits }
    /// The largest worker ID the layout can carry.
    public var maximumWorkerID: Int { (1 << workerBits) - 1 }
    /// The largest sequence number: a worker issues `maximumSequence + 1` IDs per time unit.
    public var maximumSequence: Int { (1 << sequenceBits) - 1 }
    /// The largest timestamp field value, in time units since the epoch.
    public var maximumTimestamp: Int64 { (Int64(1) << Int64(timestampBits)) - 1 }

    /// Whether every ID of `range` fits the worker bits (check `WORKER_ID_MAX` up front).
    public func canEncode(workerIDs range: ClosedRange<Int>) -> Bool {
        range.lowerBound >= 0 && range.upperBound <= maximumWorkerID
    }

    // MARK: Building and parsing

    /// The ID for the given fields. Throws when a field does not fit.
    public func makeID(timestampMilliseconds: Int64, workerID: Int, sequence: Int) throws(SnowflakeError) -> Int64 {
        let units = timeUnits(atMilliseconds: timestampMilliseconds)
        guard (0...maximumTimestamp).contains(units) else { throw timestampOutOfRange(milliseconds: timestampMilliseconds) }
        guard (0...maximumWorkerID).contains(workerID) else { throw SnowflakeError.workerIDOutOfRange(workerID, maximum: maximumWorkerID) }
        guard (0...maximumSequence).contains(sequence) else {
            throw SnowflakeError(code: .invalidLayout, message: "sequence \(sequence) does not fit the layout (0...\(maximumSequence))")
        }
        return compose(units: units, workerID: workerID, sequence: sequence)
    }

    /// The fields of `id`. Bits above ``totalBits`` are ignored.
    public func parse(_ id: Int64) -> SnowflakeParts {
        let sequence = Int(id & Int64(maximumSequence))
        let workerID = Int((id >> Int64(sequenceBits)) & Int64(maximumWorkerID))
        let units = (id >> Int64(workerBits + sequenceBits)) & maximumTimestamp
        return SnowflakeParts(timestamp: startMilliseconds(ofUnit: units), workerID: workerID, sequence: sequence)
    }

    // MARK: Internals shared with the generator

    /// Time units since the epoch at `milliseconds` (rounded down, also before the epoch).
    @inline(__always)
    func timeUnits(atMilliseconds milliseconds: Int64) -> Int64 {
        let offset = milliseconds - epochMilliseconds
        switch timeUnit {
        case .milliseconds:
            return offset
        case .seconds:
            return offset >= 0 ? offset / 1000 : -((-offset + 999) / 1000)
        }
    }

    /// The first millisecond of time unit `units`.
    @inline(__always)
    func startMilliseconds(ofUnit units: Int64) -> Int64 {
        epochMilliseconds + units * timeUnit.milliseconds
    }

    @inline(__always)
    func compose(units: Int64, workerID: Int, sequence: Int) -> Int64 {
        units << Int64(workerBits + sequenceBits) | Int64(workerID) << Int64(sequenceBits) | Int64(sequence)
    }

    func timestampOutOfRange(milliseconds: Int64) -> SnowflakeError {
        let last = startMilliseconds(ofUnit: maximumTimestamp) + timeUnit.milliseconds - 1
        return SnowflakeError(code: .timestampOverflow,
                              message: "time \(milliseconds) ms is outside the layout's range \(epochMilliseconds)...\(last) ms since 1970")
    }

    public var description: String {
        "SnowflakeLayout(\(totalBits) bits: \(timestampBits) timestamp bits in \(timeUnit) since \(epochMilliseconds) ms, \(workerBits) worker bits, \(sequenceBits) sequence bits)"
    }
}
