import ClusterKit
import Logging
import Synchronization

/// A ``WorkerIDAllocator`` on Redis: one lease key per ID, `APP_NAME:workerid:<id>`,
/// holding the holder's token with a TTL.
///
/// ## Semantics
/// - ``lease()`` tries `SET APP_NAME:workerid:<id> <token> NX PX ttl` for `id` = 0, 1, …
///   `maximumWorkerID` in order and keeps the first that succeeds, so the lowest free ID is
///   preferred and restarts reuse IDs predictably. Each `SET NX` is atomic, so two nodes
///   never hold one ID. When every ID is taken it throws ``WorkerIDError/exhausted`` with
///   the range and the number of live leases.
/// - ``renew(_:)`` and ``release(_:)`` are token-checked Lua scripts (compare-and-`PEXPIRE`,
///   compare-and-`DEL`): a lease that expired or was taken by another node is never
///   extended or freed; renew then returns `false` and ``WorkerIDLease`` reports the loss
///   and stops its snowflake generator.
/// - Expiry is Redis's own clock: a node that stops renewing loses its ID `leaseTTL` after
///   its last renewal.
/// - ``close()`` closes this node's connections without releasing its leases (release them
///   first, as ``WorkerIDLease/release()`` does); later calls throw ``WorkerIDError/closed``.
public final class RedisWorkerIDAllocator: WorkerIDAllocator {
    public struct Configuration: Sendable, Hashable {
        /// The largest ID handed out (`WORKER_ID_MAX`).
        public var maximumWorkerID: Int
        /// How long a lease lives without renewal (`WORKER_ID_LEASE_TTL_MS`).
        public var leaseTTL: Duration

        public init(maximumWorkerID: Int = 31, leaseTTL: Duration = .seconds(30)) {
            precondition(maximumWorkerID >= 0, "maximumWorkerID must not be negative (got \(maximumWorkerID))")
            precondition(leaseTTL > .zero, "leaseTTL must be positive (got \(leaseTTL))")
            self.maximumWorkerID = maximumWorkerID
            self.leaseTTL = leaseTTL
        }
    }

    public let configuration: Configuration
    public var range: ClosedRange<Int> { 0...configuration.maximumWorkerID }
    public var leaseTTL: Duration { configuration.leaseTTL }

    private let client: RedisClient
    private let nodeID: NodeID
    private let prefix: String
    private let logger: Logger
    private let closed = Atomic<Bool>(false)

    public init(client: RedisClient, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(),
                logger: Logger = Logger(label: "clusterkit.workerid.redis")) {
        self.client = client
        self.nodeID = nodeID
        self.configuration = configuration
        self.prefix = "\(appName):\(Primitive.workerID.keyRole):"
        self.logger = logger
    }

    /// The node the registry builds: its own connections to the context's URL, with
    /// `WORKER_ID_MAX` and `WORKER_ID_LEASE_TTL_MS` from its configuration.
    public convenience init(context: AdapterContext) async throws {
        self.init(client: try await RedisClient.connect(for: context), appName: context.appName, nodeID: context.nodeID,
                  configuration: Configuration(maximumWorkerID: context.configuration.workerIDMax,
                                               leaseTTL: context.configuration.workerIDLeaseTTL),
                  logger: context.logger)
    }

    public func lease() async throws -> WorkerIDLeaseToken {
        let token = randomToken(nodeID)
        let ttl = milliseconds(leaseTTL)
        for id in range {
            let reply = try await run { () throws(RedisError) in
                try await client.send(RedisCommand("SET", prefix + String(id), token, "NX", "PX", ttl))
            }
            if !reply.isNull {
                logger.debug("leased worker ID", metadata: ["workerID": "\(id)"])
                return WorkerIDLeaseToken(workerID: id, token: token)
            }
        }
        throw WorkerIDError.exhausted(range: range, liveLeases: range.count)
    }

    public func renew(_ lease: WorkerIDLeaseToken) async throws -> Bool {
        try await run { () throws(RedisError) in
            try await client.evaluate(RedisWorkerIDScripts.renew, keys: [prefix + String(lease.workerID)],
                                      arguments: [lease.token, milliseconds(leaseTTL)]).integer() == 1
        }
    }

    public func release(_ lease: WorkerIDLeaseToken) async throws {
        try await run { () throws(RedisError) in
            _ = try await client.evaluate(RedisWorkerIDScripts.release, keys: [prefix + String(lease.workerID)], arguments: [lease.token])
        }
        logger.debug("released worker ID", metadata: ["workerID": "\(lease.workerID)"])
    }

    public func checkHealth() async throws {
        if closed.load(ordering: .sequentiallyConsistent) { throw WorkerIDError.closed }
        try await client.checkHealth()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        await client.close()
    }

    private func run<T>(_ body: () async throws(RedisError) -> T) async throws(WorkerIDError) -> T {
        if closed.load(ordering: .sequentiallyConsistent) { throw WorkerIDError.closed }
        do {
            return try await body()
        } catch where error.code == .closed {
            throw WorkerIDError.closed
        } catch {
            throw WorkerIDError(code: .backend, message: "redis: \(error)")
        }
    }
}

/// The token-checked scripts of ``RedisWorkerIDAllocator``.
enum RedisWorkerIDScripts {
    /// `PEXPIRE KEYS[1] ARGV[2]` only if it holds the token ARGV[1]; 1 if renewed.
    static let renew = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """)

    /// `DEL KEYS[1]` only if it holds the token ARGV[1].
    static let release = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """)
}
