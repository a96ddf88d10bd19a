import ClusterKit

/// One conformance case: a stable name, what it checks, the capability it needs (if any),
/// a time limit, and the body.
///
/// The body gets a ``ConformanceContext`` to create nodes (adapter instances on one shared
/// backend) and throws ``ConformanceFailure`` (via ``check(_:_:)`` and friends) to fail.
public struct ConformanceCase<Adapter: Sendable>: Sendable {
    /// Stable identifier, `<primitive>.<case>` (e.g. `cache.ttl-expires`).
    public let name: String
    /// What the case proves, in one line.
    public let summary: String
    /// The capability an adapter must declare for this case to run; `nil` = every adapter.
    public let capability: String?
    /// Longest the case may run before it fails.
    public let timeout: Duration
    let body: @Sendable (ConformanceContext<Adapter>) async throws -> Void

    public init(
        _ name: String,
        _ summary: String,
        capability: String? = nil,
        timeout: Duration = .seconds(20),
        body: @escaping @Sendable (ConformanceContext<Adapter>) async throws -> Void
    ) {
        self.name = name
        self.summary = summary
        self.capability = capability
        self.timeout = timeout
        self.body = body
    }
}

/// How to create nodes for a suite: a factory of fresh adapter instances that share one
/// backend (one memory backend, one Redis server, one broker), and the optional
/// capabilities the adapter declares.
public struct ConformanceTarget<Adapter: Sendable>: Sendable {
    /// Creates a node. Called several times per case; every node of one target must share
    /// state the way nodes of one cluster do.
    public let makeNode: @Sendable (ConformanceNodeOptions) async throws -> Adapter
    /// Capability names this adapter declares (see each suite's `capabilities`).
    public let capabilities: Set<String>
    /// A label for reports (`memory`, `redis`).
    public let label: String

    public init(label: String, capabilities: Set<String> = [], makeNode: @escaping @Sendable (ConformanceNodeOptions) async throws -> Adapter) {
        self.label = label
        self.capabilities = capabilities
        self.makeNode = makeNode
    }
}

/// What a case asks of a new node.
public struct ConformanceNodeOptions: Sendable, Hashable {
    /// The app namespace (`APP_NAME`) of the node; cases use a fresh one per run so runs
    /// against a shared server never see each other's data.
    public var appName: String
    /// The node's ID.
    public var nodeID: NodeID

    public init(appName: String, nodeID: NodeID) {
        self.appName = appName
        self.nodeID = nodeID
    }
}

/// Why a case failed: what was expected and what happened.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
