import Foundation

/// The fields of a snowflake ID.
public struct SnowflakeParts: Sendable, Hashable, CustomStringConvertible {
    /// The start of the ID's time unit, in milliseconds since 1970-01-01 UTC (a whole second
    /// for second-resolution layouts such as ``SnowflakeLayout/nocobase``).
    public var timestamp: Int64
    /// The worker ID of the node that issued the ID.
    public var workerID: Int
    /// The ID's position within its time unit and worker.
    public var sequence: Int

    public init(timestamp: Int64, workerID: Int, sequence: Int) {
        self.timestamp = timestamp
        self.workerID = workerID
        self.sequence = sequence
    }

    /// ``timestamp`` as a date.
    public var date: Date { Date(timeIntervalSince1970: Double(timestamp) / 1000) }

    public var description: String { "SnowflakeParts(timestamp: \(timestamp) ms, worker: \(workerID), sequence: \(sequence))" }
}
