import Logging
import Synchronization

/// In-process worker-ID allocation: every node created from the same ``MemoryBackend`` and
/// app name draws from one pool of IDs, as nodes sharing one Redis would.
///
/// ## Behaviour
/// - IDs are `0...maximumWorkerID`. ``lease()`` takes the lowest ID without a live lease
///   (a lease whose deadline has passed is free) and throws ``WorkerIDError/Code/exhausted``,
///   naming the range and the number of live leases, when there is none.
/// - A lease lives ``leaseTTL`` from when it was taken or last renewed, measured on the
///   injected clock; at its deadline it is expired.
/// - ``renew(_:)`` moves the deadline to now + ``leaseTTL`` only if the token still holds a
///   live lease; after expiry it returns `false` even if nobody took the ID yet.
/// - ``release(_:)`` frees the ID only if the token still holds it; releasing twice, or
///   releasing a lease another node has since taken, changes nothing.
/// - Pools are per app name: two apps on one backend never see each other's leases.
/// - ``close()`` makes later calls throw ``WorkerIDError/closed``. It does not release the
///   leases this node holds (a crashed node's would not be either): release them first, as
///   ``WorkerIDLease/release()`` does; otherwise they expire after ``leaseTTL``.
///
/// All nodes of one backend must use the same clock (the same ``ManualClock`` in tests):
/// deadlines set by one node are compared with another node's `now`.
public final class MemoryWorkerIDAllocator<C: Clock>: WorkerIDAllocator where C.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// The largest ID handed out (`WORKER_ID_MAX`); IDs are `0...maximumWorkerID`.
        public var maximumWorkerID: Int
        /// How long a lease lives without renewal (`WORKER_ID_LEASE_TTL_MS`).
        public var leaseTTL: Duration

        /// - Parameters:
        ///   - maximumWorkerID: defaults to 31 (32 nodes, NocoBase's 5 worker bits); must not
        ///     be negative.
        ///   - leaseTTL: defaults to 30 s; must be positive.
        public init(maximumWorkerID: Int = 31, leaseTTL: Duration = .seconds(30)) {
            precondition(maximumWorkerID >= 0, "maximumWorkerID must not be negative (got \(maximumWorkerID))")
            precondition(leaseTTL > .zero, "leaseTTL must be positive (got \(leaseTTL))")
            self.maximumWorkerID = maximumWorkerID
            self.leaseTTL = leaseTTL
        }
    }

    public let nodeID: NodeID
    /// The app namespace whose pool this node draws from.
    public let appName: String
    public let configuration: Configuration
    public var range: ClosedRange<Int> { 0...configuration.maximumWorkerID }
    public var leaseTTL: Duration { configuration.leaseTTL }

    private let pool: MemoryWorkerIDPool<C.Instant>
    private let clock: C
    private let logger: Logger
    private let closed = Mutex(false)

    /// A node on `backend` drawing from the pool of `appName`.
    public init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(),
                clock: C, logger: Logger = Logger(label: "clusterkit.workerid.memory")) {
        self.nodeID = nodeID
        self.appName = appName
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.pool = MemoryWorkerIDPool.shared(in: backend, appName: appName)
    }

    /// The node described by a registry context: its backend, app name and node ID, with
    /// `WORKER_ID_MAX` and `WORKER_ID_LEASE_TTL_MS` from its configuration.
    public convenience init(context: AdapterContext, clock: C) {
        let configuration = Configuration(maximumWorkerID: context.configuration.workerIDMax,
                                          leaseTTL: context.configuration.workerIDLeaseTTL)
        self.init(backend: context.memory, appName: context.appName, nodeID: context.nodeID,
                  configuration: configuration, clock: clock, logger: context.logger)
    }

    public func lease() async throws -> WorkerIDLeaseToken {
        try checkOpen()
        let token = "\(nodeID.rawValue)/\(String(UInt64.random(in: 0 ... .max), radix: 36))"
        let now = clock.now
        switch pool.lease(in: range, token: token, now: now, expiresAt: now.advanced(by: leaseTTL)) {
        case .leased(let id):
            logger.debug("leased worker ID", metadata: ["workerID": "\(id)"])
            return WorkerIDLeaseToken(workerID: id, token: token)
        case .exhausted(let liveLeases):
            throw WorkerIDError.exhausted(range: range, liveLeases: liveLeases)
        }
    }

    public func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool {
        try checkOpen()
        let now = clock.now
        return pool.renew(lease.workerID, token: lease.token, now: now, expiresAt: now.advanced(by: leaseTTL))
    }

    public func release(_ lease: WorkerIDLeaseToken) async throws {
        try checkOpen()
        pool.release(lease.workerID, token: lease.token)
        logger.debug("released worker ID", metadata: ["workerID": "\(lease.workerID)"])
    }

    public func close() async {
        closed.withLock { $0 = true }
    }

    private func checkOpen() throws(WorkerIDError) {
        if closed.withLock({ $0 }) { throw WorkerIDError.closed }
    }
}

extension MemoryWorkerIDAllocator where C == ContinuousClock {
    /// A node on `backend` drawing from the pool of `appName`, timing leases on the
    /// continuous clock.
    public convenience init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(),
                            configuration: Configuration = .init(), logger: Logger = Logger(label: "clusterkit.workerid.memory")) {
        self.init(backend: backend, appName: appName, nodeID: nodeID, configuration: configuration, clock: ContinuousClock(), logger: logger)
    }

    /// The node described by a registry context, timing leases on the continuous clock.
    public convenience init(context: AdapterContext) {
        self.init(context: context, clock: ContinuousClock())
    }
}
