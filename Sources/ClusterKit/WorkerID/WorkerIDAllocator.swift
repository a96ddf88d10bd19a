/// Hands out worker IDs — small integers unique among the live nodes of an app — as leases
/// with a TTL. Snowflake IDs embed the worker ID, so two live nodes with one worker ID
/// could issue the same ID: the lease must be renewed, and a lost lease must stop issuing.
///
/// Applications rarely call this directly: ``WorkerIDLease`` holds a lease, renews it
/// every TTL/3 and reports its loss, and `Cluster` runs one for each node.
///
/// ## Semantics every adapter follows
/// - IDs are in ``range`` (`0...WORKER_ID_MAX`, default `0...31`); 0 is a valid ID.
/// - ``lease()`` prefers the lowest free ID, so restarts reuse IDs predictably, and throws
///   ``WorkerIDError/Code/exhausted`` naming the range and the number of live leases when none
///   is free.
/// - A lease that is not renewed within ``leaseTTL`` expires and its ID can be taken by
///   another node. ``renew(_:)`` returns `false` when the lease expired or another node
///   holds the ID: the lease is lost.
/// - ``release(_:)`` frees the ID if this lease still holds it; releasing twice is harmless.
public protocol WorkerIDAllocator: ClusterAdapter {
    /// The IDs this allocator hands out.
    var range: ClosedRange<Int> { get }
    /// How long a lease lives without renewal.
    var leaseTTL: Duration { get }

    /// Takes the lowest free ID.
    func lease() async throws -> WorkerIDLeaseToken
    /// Extends the lease by ``leaseTTL``; `false` when it was lost.
    func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool
    /// Frees the ID if `lease` still holds it.
    func release(_ lease: WorkerIDLeaseToken) async throws
}

/// A leased worker ID and the token proving ownership.
public struct WorkerIDLeaseToken: Sendable, Hashable, CustomStringConvertible {
    public let workerID: Int
    public let token: String

    public init(workerID: Int, token: String) {
        self.workerID = workerID
        self.token = token
    }

    public var description: String { "worker \(workerID)" }
}

/// An error from worker-ID allocation; compare ``code``.
public struct WorkerIDError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Every ID of the range is leased.
        public static let exhausted = Code("exhausted")
        /// The lease is no longer held (expired or taken).
        public static let leaseLost = Code("leaseLost")
        /// No lease is held right now (never acquired, released, or lost).
        public static let notHeld = Code("notHeld")
        /// The backend failed.
        public static let backend = Code("backend")
        /// The adapter was closed.
        public static let closed = Code("closed")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "WorkerIDError.\(code): \(message)" }

    public static func exhausted(range: ClosedRange<Int>, liveLeases: Int) -> WorkerIDError {
        WorkerIDError(code: .exhausted, message: "no free worker ID in \(range.lowerBound)...\(range.upperBound): \(liveLeases) live leases (raise \(ClusterSettings.workerIDMax.name) or stop a node)")
    }
    public static let closed = WorkerIDError(code: .closed, message: "the worker-ID allocator is closed")
}
