/// An error from snowflake ID generation or layout definition; compare ``code``.
public struct SnowflakeError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No worker-ID lease is held (never acquired, released, or lost): issuing now could
        /// duplicate IDs of the node that holds the worker ID.
        public static let noWorkerID = Code("noWorkerID")
        /// The clock went back further than the generator waits for.
        public static let clockMovedBackwards = Code("clockMovedBackwards")
        /// The worker ID does not fit the layout's worker bits.
        public static let workerIDOutOfRange = Code("workerIDOutOfRange")
        /// The time is before the layout's epoch or beyond its last representable timestamp.
        public static let timestampOverflow = Code("timestampOverflow")
        /// The layout's bit counts are impossible.
        public static let invalidLayout = Code("invalidLayout")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "SnowflakeError.\(code): \(message)" }

    public static let noWorkerID = SnowflakeError(code: .noWorkerID, message: "no worker-ID lease is held (not acquired yet, released, or lost); refusing to issue IDs")

    public static func workerIDOutOfRange(_ workerID: Int, maximum: Int) -> SnowflakeError {
        SnowflakeError(code: .workerIDOutOfRange, message: "worker ID \(workerID) does not fit the layout (0...\(maximum)); lower \(ClusterSettings.workerIDMax.name) or use more worker bits")
    }
}
