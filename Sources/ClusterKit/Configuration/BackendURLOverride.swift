/// Points a configuration at one backend given by URL — what `clusterkit conformance --url`
/// (and the `clusterkit-conformance` package plugin) does with `--url redis://…` or
/// `--url amqp://…`.
///
/// The URL's scheme names the backend (`redis://` → adapters whose URL word is `redis`,
/// `amqp://` → `rabbitmq`). For every requested primitive that a registered adapter serves
/// with that word, the result selects that adapter and sets both the primitive's own URL
/// variable and the shared one (`CACHE_REDIS_URL` and `REDIS_URL`), so the URL wins over
/// anything in the environment or `.env`. Primitives no such adapter serves keep their
/// configuration. Several URLs apply in order: for a primitive both serve, the later wins.
public enum BackendURLOverride {
    /// The URL word (``AdapterRegistry/Registration/urlName``) of each supported scheme.
    public static let urlNamesByScheme: [String: String] = ["redis": "redis", "amqp": "rabbitmq"]

    /// The variables to lay over the environment so that `urls` are used for `primitives`.
    /// Throws when a URL is malformed, has an unsupported scheme, or no registered adapter
    /// of the requested primitives uses it.
    public static func variables(for urls: [String], primitives: [Primitive], registry: AdapterRegistry)
        throws(ConfigurationError) -> [String: String]
    {
        var variables: [String: String] = [:]
        for url in urls {
            let scheme = url.range(of: "://").map { url[..<$0.lowerBound].lowercased() } ?? ""
            guard let urlName = urlNamesByScheme[scheme] else {
                throw ConfigurationError(code: .invalidURL, message: "--url \(Redaction.redactedURL(url)): expected a "
                    + "\(urlNamesByScheme.keys.sorted().map { "\($0)://" }.joined(separator: " or ")) URL")
            }
            // Parse now, so a malformed URL is reported before anything runs.
            switch urlName {
            case "redis": _ = try ConnectionURL(url, variable: "--url").redis()
            default: _ = try ConnectionURL(url, variable: "--url").amqp()
            }
            var served: [Primitive] = []
            for primitive in primitives {
                let selector = ClusterSettings.selector(for: primitive).name
                let adapter = registry.names(for: primitive).compactMap {
                    try? registry.registration(for: primitive, named: $0, variable: selector)
                }.first { $0.urlName == urlName }
                guard let adapter else { continue }
                variables[selector] = adapter.name
                for variable in ClusterSettings.urlVariables(for: primitive, urlName: urlName) { variables[variable] = url }
                served.append(primitive)
            }
            if served.isEmpty {
                throw ConfigurationError(code: .unknownAdapter, message: "--url \(Redaction.redactedURL(url)): no linked adapter of "
                    + "\(primitives.map(\.rawValue).joined(separator: ", ")) uses \(scheme):// URLs")
            }
        }
        return variables
    }
}
