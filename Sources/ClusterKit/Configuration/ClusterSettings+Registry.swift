extension ClusterSettings {
    /// The declared setting called `name`, if any.
    public static func setting(named name: String) -> Setting? {
        all.first { $0.name == name }
    }

    /// The URL variables that adapters registered in `registry` would read (see
    /// ``urlVariables(for:urlName:)``) but that ``all`` does not declare, sorted. Empty when
    /// the declaration covers every adapter: a backend module that adds a URL word must
    /// declare its variables here, or `clusterkit settings --check` fails.
    public static func undeclaredURLVariables(in registry: AdapterRegistry) -> [String] {
        let declared = Set(all.map(\.name))
        var missing: Set<String> = []
        for primitive in Primitive.allCases {
            let selector = selector(for: primitive).name
            for name in registry.names(for: primitive) {
                guard let urlName = try? registry.registration(for: primitive, named: name, variable: selector).urlName else { continue }
                missing.formUnion(urlVariables(for: primitive, urlName: urlName).filter { !declared.contains($0) })
            }
        }
        return missing.sorted()
    }

    /// Adapter names registered in `registry` that a selector's one-line documentation does
    /// not mention, as `VARIABLE: name` (sorted). The summaries list the valid values by hand
    /// ("Cache adapter: memory, redis."), so `clusterkit settings --check` uses this to keep
    /// them in step with what the executable links.
    public static func selectorSummariesMissingAdapters(in registry: AdapterRegistry) -> [String] {
        var missing: [String] = []
        for primitive in Primitive.allCases {
            let selector = selector(for: primitive)
            let words = Set(selector.summary.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" && $0 != "_" })
                .map { $0.lowercased() })
            missing += registry.names(for: primitive).filter { !words.contains($0) }.map { "\(selector.name): \($0)" }
        }
        return missing.sorted()
    }
}
