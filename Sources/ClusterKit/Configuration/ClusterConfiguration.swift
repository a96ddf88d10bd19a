import Configuration
import Foundation

/// The settings of one node, read from the environment.
///
/// ## Precedence
/// The process environment wins over the `.env` file in the working directory, which wins
/// over the built-in defaults. For connection URLs a primitive's own variable
/// (`CACHE_REDIS_URL`) wins over the shared fallback (`REDIS_URL`), whatever source each
/// came from. An empty value counts as unset.
///
/// ## Configuration keys
/// Every variable read here is declared once in ``ClusterSettings/all`` (name, kind, default,
/// secrecy, primitive, documentation); `.env.example` and the README table are generated
/// from that declaration.
///
/// Values are validated when loaded: a typo in a selector is an error when the adapters are
/// resolved against a registry (``resolve(_:in:)``), a malformed number or app name is an
/// error here.
public struct ClusterConfiguration: Sendable {
    /// `APP_NAME`: the namespace of every key.
    public var appName: String
    /// `CLUSTERKIT_NODE_ID`, when set.
    public var nodeID: NodeID?
    /// `CACHE_MEMORY_MAX`: the memory cache's entry cap.
    public var cacheMemoryMax: Int
    /// `WORKER_ID_MAX`: worker IDs are `0...workerIDMax`.
    public var workerIDMax: Int
    /// `WORKER_ID_LEASE_TTL_MS`: how long a worker-ID lease lives without renewal.
    public var workerIDLeaseTTL: Duration
    /// The selected adapter name of each primitive, as written (trimmed).
    public var adapterNames: [Primitive: String]

    private let lookup: @Sendable (String) -> String?

    /// Reads the process environment and, if present, the `.env` file at `environmentFile`
    /// (default: `.env` in the working directory).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        environmentFile: String = ".env"
    ) async throws(ConfigurationError) -> ClusterConfiguration {
        let secrets = Set(ClusterSettings.all.filter(\.isSecret).map(\.name))
        let secretSpecifier = SecretsSpecifier<String, String>.dynamic { key, _ in
            secrets.contains(key.uppercased()) || key.uppercased().hasSuffix("_URL")
        }
        let fileProvider: EnvironmentVariablesProvider
        do {
            fileProvider = try await EnvironmentVariablesProvider(
                environmentFilePath: .init(environmentFile), allowMissing: true, secretsSpecifier: secretSpecifier)
        } catch {
            throw ConfigurationError(code: .unreadableFile, message: "cannot read \(environmentFile): \(error)")
        }
        // A blank variable counts as unset, so it must not hide the `.env` value behind it
        // (docker-compose's `REDIS_URL=${REDIS_URL}` with nothing set on the host).
        let environment = environment.filter { !$0.value.trimmingCharacters(in: .whitespaces).isEmpty }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: secretSpecifier),
            fileProvider,
        ])
        return try ClusterConfiguration(lookup: { name in
            reader.string(forKey: ConfigKey([name]), isSecret: secrets.contains(name))
        })
    }

    /// A configuration from explicit values only (no environment, no `.env`), with the
    /// built-in defaults for the rest.
    public init(values: [String: String]) throws(ConfigurationError) {
        try self.init(lookup: { values[$0] })
    }

    private init(lookup rawLookup: @escaping @Sendable (String) -> String?) throws(ConfigurationError) {
        let lookup: @Sendable (String) -> String? = { name in
            guard let value = rawLookup(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        self.lookup = lookup
        func value(_ setting: Setting) -> String? { lookup(setting.name) ?? setting.defaultValue }

        let app = value(ClusterSettings.appName) ?? "app"
        guard (1...64).contains(app.utf8.count), app.utf8.allSatisfy({ CacheName.allowed($0) && $0 != UInt8(ascii: ".") }) else {
            throw .invalidValue(variable: ClusterSettings.appName.name, value: app, expected: "1-64 characters from [A-Za-z0-9_-]")
        }
        appName = app
        nodeID = lookup(ClusterSettings.nodeID.name).map(NodeID.init)
        cacheMemoryMax = try Self.integer(ClusterSettings.cacheMemoryMax, value(ClusterSettings.cacheMemoryMax), in: 1...100_000_000)
        workerIDMax = try Self.integer(ClusterSettings.workerIDMax, value(ClusterSettings.workerIDMax), in: 0...1_048_575)
        let ttlMilliseconds = try Self.integer(ClusterSettings.workerIDLeaseTTL, value(ClusterSettings.workerIDLeaseTTL), in: 300...86_400_000)
        workerIDLeaseTTL = .milliseconds(ttlMilliseconds)
        var names: [Primitive: String] = [:]
        for primitive in Primitive.allCases {
            let selector = ClusterSettings.selector(for: primitive)
            names[primitive] = value(selector) ?? "memory"
        }
        adapterNames = names
    }

    private static func integer(_ setting: Setting, _ text: String?, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text, let number = Int(text), range.contains(number) else {
            throw .invalidValue(variable: setting.name, value: text ?? "", expected: "a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// The raw value of any variable (environment, then `.env`), or `nil` when unset or
    /// empty. Adapters read their own extra settings through this.
    public func value(_ name: String) -> String? { lookup(name) }

    /// The adapter selected for `primitive`, checked against `registry`, with its URL
    /// resolved by the precedence rules.
    public func resolve(_ primitive: Primitive, in registry: AdapterRegistry) throws(ConfigurationError) -> ResolvedAdapter {
        let selector = ClusterSettings.selector(for: primitive)
        let selected = adapterNames[primitive] ?? "memory"
        let registration = try registry.registration(for: primitive, named: selected, variable: selector.name)
        var url: ConnectionURL?
        if let urlName = registration.urlName {
            for variable in ClusterSettings.urlVariables(for: primitive, urlName: urlName) {
                if let text = value(variable) {
                    url = ConnectionURL(text, variable: variable)
                    break
                }
            }
            if url == nil, let fallback = registration.defaultURL {
                url = ConnectionURL(fallback, variable: nil)
            }
            if let url {
                // Validate the form now so a malformed URL is a startup error.
                switch urlName.lowercased() {
                case "redis": _ = try url.redis()
                case "rabbitmq": _ = try url.amqp()
                default: break
                }
            }
        }
        return ResolvedAdapter(primitive: primitive, selectorVariable: selector.name, selectedName: selected,
                               registration: registration, url: url)
    }
}

/// The adapter chosen for one primitive.
public struct ResolvedAdapter: Sendable {
    public let primitive: Primitive
    /// The variable that selected it (`CACHE_DEFAULT_STORE`).
    public let selectorVariable: String
    /// The name as written (may be an alias such as `local`).
    public let selectedName: String
    public let registration: AdapterRegistry.Registration
    /// The connection URL, or `nil` for adapters without one.
    public let url: ConnectionURL?

    /// The canonical adapter name (`memory` for `local`).
    public var name: String { registration.name }
    /// Whether the URL is the built-in default because no variable set one.
    public var usesDefaultURL: Bool { url != nil && url?.variable == nil }
}
