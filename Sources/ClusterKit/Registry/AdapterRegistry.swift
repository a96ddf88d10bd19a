/// Maps (primitive, adapter name) to a factory.
///
/// The core registers the `memory` adapters (``builtIn``; `local` is an alias of the memory
/// lock). Backend modules add theirs without any change here, e.g.
/// `registry.registerRedisAdapters()` from `ClusterKitRedis`. The registry is a value: build
/// one at startup and hand it to `Cluster`; there is no global state.
///
/// Selecting a name nobody registered fails with ``ConfigurationError`` naming the variable,
/// the value and the registered names; a name a known module provides (`redis`,
/// `rabbitmq`) also says which module to link.
public struct AdapterRegistry: Sendable {
    /// How an adapter connects, so configuration can find its URL.
    public struct Registration: Sendable {
        /// The adapter name (`redis`).
        public let name: String
        /// Other accepted names (`local` for the memory lock).
        public let aliases: [String]
        /// The word naming the adapter's URL variables (`redis`, `rabbitmq`), or `nil` when it
        /// takes no URL: `<PRIMITIVE PREFIX>_<WORD>_URL`, then `<WORD>_URL`.
        public let urlName: String?
        /// Used when neither URL variable is set (a warning is logged once).
        public let defaultURL: String?
        /// Whether nodes in different processes share state through this adapter. When every
        /// selected adapter is networked, `clusterkit demo` runs nodes as separate processes.
        public let isNetworked: Bool
        /// Optional conformance capabilities the adapter declares (`durable`, …); the
        /// conformance suites run the matching capability cases.
        public let capabilities: Set<String>

        public init(name: String, aliases: [String] = [], urlName: String? = nil, defaultURL: String? = nil, isNetworked: Bool,
                    capabilities: Set<String> = []) {
            self.name = name
            self.aliases = aliases
            self.urlName = urlName
            self.defaultURL = defaultURL
            self.isNetworked = isNetworked
            self.capabilities = capabilities
        }
    }

    public typealias Factory<Adapter> = @Sendable (AdapterContext) async throws -> Adapter

    struct Entry: Sendable {
        let registration: Registration
        let make: @Sendable (AdapterContext) async throws -> any ClusterAdapter
    }

    private var entries: [Primitive: [String: Entry]] = [:]

    /// An empty registry (not even memory adapters).
    public init() {}

    /// A registry with the in-memory adapters of all five primitives.
    public static var builtIn: AdapterRegistry {
        var registry = AdapterRegistry()
        registry.registerMemoryAdapters()
        return registry
    }

    /// Adapter modules the core knows by name, to say which one to link.
    public static let knownModules: [String: String] = [
        "redis": "ClusterKitRedis",
        "rabbitmq": "ClusterKitRabbitMQ",
    ]

    // MARK: Registering

    public mutating func registerCache(_ registration: Registration, factory: @escaping Factory<any CacheStore>) {
        add(.cache, registration) { try await factory($0) }
    }

    public mutating func registerPubSub(_ registration: Registration, factory: @escaping Factory<any PubSub>) {
        add(.pubsub, registration) { try await factory($0) }
    }

    public mutating func registerQueue(_ registration: Registration, factory: @escaping Factory<any MessageQueue>) {
        add(.queue, registration) { try await factory($0) }
    }

    public mutating func registerLock(_ registration: Registration, factory: @escaping Factory<any DistributedLock>) {
        add(.lock, registration) { try await factory($0) }
    }

    public mutating func registerWorkerID(_ registration: Registration, factory: @escaping Factory<any WorkerIDAllocator>) {
        add(.workerID, registration) { try await factory($0) }
    }

    private mutating func add(_ primitive: Primitive, _ registration: Registration,
                              _ make: @escaping @Sendable (AdapterContext) async throws -> any ClusterAdapter) {
        let entry = Entry(registration: registration, make: make)
        for name in [registration.name] + registration.aliases {
            entries[primitive, default: [:]][name.lowercased()] = entry
        }
    }

    // MARK: Looking up

    /// The names (aliases included) registered for `primitive`, sorted.
    public func names(for primitive: Primitive) -> [String] {
        (entries[primitive] ?? [:]).keys.sorted()
    }

    /// The registration selected by `name` for `primitive`, or a ``ConfigurationError``
    /// naming `variable`, the value and the valid names.
    public func registration(for primitive: Primitive, named name: String, variable: String) throws(ConfigurationError) -> Registration {
        try entry(primitive, name, variable: variable).registration
    }

    func entry(_ primitive: Primitive, _ name: String, variable: String) throws(ConfigurationError) -> Entry {
        if let entry = entries[primitive]?[name.lowercased()] { return entry }
        throw ConfigurationError.unknownAdapter(variable: variable, value: name, valid: names(for: primitive),
                                                module: Self.knownModules[name.lowercased()])
    }

    // MARK: Building

    public func makeCache(_ context: AdapterContext) async throws -> any CacheStore {
        try await make(context, as: (any CacheStore).self)
    }

    public func makePubSub(_ context: AdapterContext) async throws -> any PubSub {
        try await make(context, as: (any PubSub).self)
    }

    public func makeQueue(_ context: AdapterContext) async throws -> any MessageQueue {
        try await make(context, as: (any MessageQueue).self)
    }

    public func makeLock(_ context: AdapterContext) async throws -> any DistributedLock {
        try await make(context, as: (any DistributedLock).self)
    }

    public func makeWorkerIDAllocator(_ context: AdapterContext) async throws -> any WorkerIDAllocator {
        try await make(context, as: (any WorkerIDAllocator).self)
    }

    private func make<Adapter>(_ context: AdapterContext, as type: Adapter.Type) async throws -> Adapter {
        let variable = ClusterSettings.selector(for: context.primitive).name
        let entry = try entry(context.primitive, context.adapterName, variable: variable)
        let adapter = try await entry.make(context)
        guard let typed = adapter as? Adapter else {
            // Impossible through the typed register methods; kept as an error, not a crash.
            throw ConfigurationError(code: .invalidValue, message: "adapter '\(context.adapterName)' for \(context.primitive) has the wrong type")
        }
        return typed
    }
}
