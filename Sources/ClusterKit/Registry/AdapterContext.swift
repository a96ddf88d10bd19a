import Logging

/// Everything a factory needs to build one node's adapter for one primitive.
public struct AdapterContext: Sendable {
    /// The primitive being built.
    public let primitive: Primitive
    /// The adapter name as selected (after alias resolution, e.g. `local` → `memory`).
    public let adapterName: String
    /// The node the adapter belongs to.
    public let nodeID: NodeID
    /// The complete configuration (app name, limits, raw values for adapter-specific keys).
    public let configuration: ClusterConfiguration
    /// The connection URL for this primitive, resolved by the precedence rules, or `nil`
    /// for adapters that take none.
    public let url: ConnectionURL?
    /// Shared in-process state for memory adapters: nodes built with the same instance form
    /// one in-process cluster.
    public let memory: MemoryBackend
    /// A logger with `primitive`, `adapter` and `node` metadata set.
    public let logger: Logger

    public init(primitive: Primitive, adapterName: String, nodeID: NodeID, configuration: ClusterConfiguration,
                url: ConnectionURL?, memory: MemoryBackend, logger: Logger) {
        self.primitive = primitive
        self.adapterName = adapterName
        self.nodeID = nodeID
        self.configuration = configuration
        self.url = url
        self.memory = memory
        var logger = logger
        logger[metadataKey: "primitive"] = "\(primitive.rawValue)"
        logger[metadataKey: "adapter"] = "\(adapterName)"
        logger[metadataKey: "node"] = "\(nodeID.rawValue)"
        self.logger = logger
    }

    /// The app namespace (`APP_NAME`).
    public var appName: String { configuration.appName }

    /// `APP_NAME:<role>:` — the prefix of every key of this primitive.
    public var keyPrefix: String { "\(configuration.appName):\(primitive.keyRole):" }
}
