import ClusterKit

/// The conformance suite every ``CacheStore`` adapter passes.
///
/// Cases use only the ``CacheStore`` protocol (and the typed ``Cache`` API over it), create
/// their nodes with the context (several nodes = several adapter instances on one backend)
/// and live in their own `APP_NAME`, so they can run against a shared Redis server. TTL cases
/// use real time with short durations (a few hundred milliseconds) and tolerances.
///
/// ``CacheStore`` adapters must validate keys themselves (``CacheKeyRules/validate(_:)``):
/// the key cases call the store directly.
public enum CacheConformance {
    /// Optional behaviour an adapter may declare.
    public static let capabilities: [String: String] = [
        "two-level": "A local (per-node) layer in front of the shared store. A write, delete or clear on one "
            + "node invalidates the other nodes' local copies within the propagation bound "
            + "(\(twoLevelPropagationBound)); losing the invalidation channel flushes the local layer.",
    ]

    /// How long a two-level adapter may take to invalidate other nodes' local copies.
    public static let twoLevelPropagationBound: Duration = .seconds(2)

    public static let suite = ConformanceSuite<any CacheStore>(
        primitive: .cache,
        capabilities: capabilities,
        cases: valueCases + batchCases + namespaceCases + keyCases + ttlCases + counterCases + wrapCases
            + encodingCases + lifecycleCases + twoLevelCases
    )
}

typealias CacheCase = ConformanceCase<any CacheStore>

/// Shared helpers of the cache cases.
enum CacheCheck {
    /// How long a "short" TTL lives in the cases: long enough to read the key back right after
    /// writing it over a network, short enough to keep the suite fast.
    static let shortTTL: Duration = .milliseconds(300)
    /// How long cases wait at most for a short-TTL key to disappear.
    static let expiryWait: Duration = .seconds(3)

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func show(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "nil" }
        if let text = String(validating: bytes, as: UTF8.self), text.utf8.count <= 80 { return "\"\(text)\"" }
        return "\(bytes.count) bytes"
    }

    /// Fails unless the store holds exactly `expected` (or nothing, for `nil`) at `key`.
    static func expectValue(_ store: any CacheStore, _ cache: CacheName, _ key: String, _ expected: [UInt8]?,
                            _ what: String) async throws {
        let actual = try await store.get(cache, key)
        try check(actual == expected, "\(what): expected \(show(expected)) at \(cache)/\(key), got \(show(actual))")
    }

    /// Waits until `key` is gone (expired), failing after ``expiryWait``.
    static func waitUntilMissing(_ store: any CacheStore, _ cache: CacheName, _ key: String, _ what: String) async throws {
        try await eventually("\(what): \(cache)/\(key) expires", timeout: expiryWait) {
            try await !store.has(cache, key)
        }
    }

    static func isCode(_ code: CacheError.Code) -> (CacheError) -> Bool {
        { $0.code == code }
    }
}
