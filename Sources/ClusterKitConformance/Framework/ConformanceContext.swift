import ClusterKit
import Synchronization

/// Handed to a running case: creates nodes on the target's shared backend and closes every
/// node it created when the case ends (pass or fail). `Adapter` is the primitive's
/// existential (`any CacheStore`); nodes are closed through ``ClusterAdapter``.
public final class ConformanceContext<Adapter: Sendable>: Sendable {
    /// The case's own app namespace, unique per run.
    public let appName: String
    /// The case being run.
    public let caseName: String
    /// The target's declared capabilities.
    public let capabilities: Set<String>
    private let target: ConformanceTarget<Adapter>
    private let nodes = Mutex<[Adapter]>([])

    init(caseName: String, target: ConformanceTarget<Adapter>) {
        self.caseName = caseName
        self.target = target
        self.capabilities = target.capabilities
        self.appName = "ckc" + String(UInt64.random(in: 0 ... .max), radix: 36)
    }

    /// A new node in this case's namespace (or in `appName` when given, for isolation
    /// checks).
    public func makeNode(appName: String? = nil, nodeID: NodeID? = nil) async throws -> Adapter {
        let node = try await target.makeNode(ConformanceNodeOptions(appName: appName ?? self.appName, nodeID: nodeID ?? NodeID.generate()))
        nodes.withLock { $0.append(node) }
        return node
    }

    /// `count` new nodes in this case's namespace.
    public func makeNodes(_ count: Int) async throws -> [Adapter] {
        var result: [Adapter] = []
        for _ in 0..<count { result.append(try await makeNode()) }
        return result
    }

    /// A second namespace for isolation checks, unique per run.
    public func otherAppName() -> String { appName + "x" }

    func closeAll() async {
        let all = nodes.withLock { nodes in
            defer { nodes.removeAll() }
            return nodes
        }
        for node in all.reversed() { await (node as? any ClusterAdapter)?.close() }
    }
}
