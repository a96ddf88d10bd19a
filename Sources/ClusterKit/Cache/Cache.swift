/// One named cache of an app: typed values over a ``CacheStore``.
///
/// Obtain it from ``CacheManager/cache(_:)-(String)`` (or `cluster.cache("name")`). Values are
/// `Codable`, encoded with the manager's ``CacheCodec`` (JSON by default), or raw bytes via
/// the `…Bytes` methods. See ``CacheStore`` for the TTL, expiry and isolation rules.
public struct Cache: Sendable {
    /// The cache's name inside the app namespace.
    public let name: CacheName
    /// The store shared by all caches of this node.
    public let store: any CacheStore
    /// The codec for typed values.
    public let codec: any CacheCodec
    private let singleFlight: SingleFlight

    init(name: CacheName, store: any CacheStore, codec: any CacheCodec, singleFlight: SingleFlight) {
        self.name = name
        self.store = store
        self.codec = codec
        self.singleFlight = singleFlight
    }

    // MARK: Typed values

    /// The value stored at `key` decoded as `type`, or `nil` when missing or expired.
    public func get<Value: Decodable & Sendable>(_ key: String, as type: Value.Type = Value.self) async throws -> Value? {
        try CacheKeyRules.validate(key)
        guard let bytes = try await store.get(name, key) else { return nil }
        return try decode(type, key: key, bytes)
    }

    /// Stores `value` at `key` (replacing any value). `ttl`: positive = expires, `nil` =
    /// never, zero or negative = nothing is stored and an existing entry is removed.
    public func set<Value: Encodable & Sendable>(_ key: String, _ value: Value, ttl: Duration? = nil) async throws {
        try CacheKeyRules.validate(key)
        let bytes = try encode(value)
        try await store.set(name, key, bytes, ttl: ttl)
    }

    /// Stores `value` only if `key` is absent or expired; returns whether it was stored.
    public func add<Value: Encodable & Sendable>(_ key: String, _ value: Value, ttl: Duration? = nil) async throws -> Bool {
        try CacheKeyRules.validate(key)
        return try await store.add(name, key, try encode(value), ttl: ttl)
    }

    /// Values for `keys` in the same order; `nil` for misses.
    public func getMany<Value: Decodable & Sendable>(_ keys: [String], as type: Value.Type = Value.self) async throws -> [Value?] {
        for key in keys { try CacheKeyRules.validate(key) }
        if keys.isEmpty { return [] }
        let values = try await store.getMany(name, keys)
        return try zip(keys, values).map { key, bytes in try bytes.map { try decode(type, key: key, $0) } }
    }

    /// Stores every pair with the same TTL.
    public func setMany<Value: Encodable & Sendable>(_ entries: [(key: String, value: Value)], ttl: Duration? = nil) async throws {
        for entry in entries { try CacheKeyRules.validate(entry.key) }
        if entries.isEmpty { return }
        let encoded = try entries.map { (key: $0.key, value: try encode($0.value)) }
        try await store.setMany(name, encoded, ttl: ttl)
    }

    /// The cached value for `key`, or — on a miss — the result of `compute`, stored with
    /// `ttl` and returned. Within this process, concurrent callers for the same key run
    /// `compute` once and share its result; an error reaches every waiter and is not cached.
    public func wrap<Value: Codable & Sendable>(
        _ key: String,
        ttl: Duration? = nil,
        as type: Value.Type = Value.self,
        compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        try CacheKeyRules.validate(key)
        if let bytes = try await store.get(name, key) {
            return try decode(type, key: key, bytes)
        }
        let store = self.store
        let name = self.name
        let codec = self.codec
        let bytes = try await singleFlight.run(Array(name.rawValue.utf8) + [0] + Array(key.utf8)) {
            // Another flight may have filled the key while this one waited to start.
            if let cached = try await store.get(name, key) { return cached }
            let value = try await compute()
            let encoded: [UInt8]
            do { encoded = try codec.encode(value) } catch { throw CacheError.encodingFailed(error) }
            try await store.set(name, key, encoded, ttl: ttl)
            return encoded
        }
        return try decode(type, key: key, bytes)
    }

    // MARK: Raw bytes

    /// The stored bytes at `key`, or `nil`.
    public func getBytes(_ key: String) async throws -> [UInt8]? {
        try CacheKeyRules.validate(key)
        return try await store.get(name, key)
    }

    /// Stores raw bytes at `key`.
    public func setBytes(_ key: String, _ bytes: [UInt8], ttl: Duration? = nil) async throws {
        try CacheKeyRules.validate(key)
        try await store.set(name, key, bytes, ttl: ttl)
    }

    // MARK: Keys

    /// Removes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try CacheKeyRules.validate(key)
        return try await store.delete(name, key)
    }

    /// Removes `keys`; returns how many existed.
    @discardableResult
    public func deleteMany(_ keys: [String]) async throws -> Int {
        for key in keys { try CacheKeyRules.validate(key) }
        if keys.isEmpty { return 0 }
        return try await store.deleteMany(name, keys)
    }

    /// Whether `key` exists and has not expired.
    public func has(_ key: String) async throws -> Bool {
        try CacheKeyRules.validate(key)
        return try await store.has(name, key)
    }

    /// Atomically adds `delta` (may be negative) and returns the new value; a missing key
    /// starts at 0 and gets `ttl` (only on creation: a fixed window).
    @discardableResult
    public func increment(_ key: String, by delta: Int64 = 1, ttl: Duration? = nil) async throws -> Int64 {
        try CacheKeyRules.validate(key)
        return try await store.increment(name, key, by: delta, ttl: ttl)
    }

    /// The remaining lifetime of `key`.
    public func timeToLive(_ key: String) async throws -> CacheTTL {
        try CacheKeyRules.validate(key)
        return try await store.timeToLive(name, key)
    }

    /// Replaces the TTL of an existing key; never revives a missing or expired one.
    @discardableResult
    public func touch(_ key: String, ttl: Duration?) async throws -> Bool {
        try CacheKeyRules.validate(key)
        return try await store.touch(name, key, ttl: ttl)
    }

    /// Removes every key of this cache (and only of this cache).
    public func clear() async throws {
        try await store.clear(name)
    }

    // MARK: Codec

    private func encode<Value: Encodable>(_ value: Value) throws(CacheError) -> [UInt8] {
        do { return try codec.encode(value) } catch { throw CacheError.encodingFailed(error) }
    }

    private func decode<Value: Decodable>(_ type: Value.Type, key: String, _ bytes: [UInt8]) throws(CacheError) -> Value {
        do { return try codec.decode(type, from: bytes) } catch { throw CacheError.decodingFailed(key: key, error) }
    }
}

/// Hands out the named caches of one node; they share the node's ``CacheStore``, codec and
/// single-flight group (so `wrap` is single-flight per process).
public struct CacheManager: Sendable {
    public let store: any CacheStore
    public let codec: any CacheCodec
    private let singleFlight = SingleFlight()

    public init(store: any CacheStore, codec: any CacheCodec = JSONCacheCodec()) {
        self.store = store
        self.codec = codec
    }

    /// The cache called `name`; throws ``CacheError/Code/invalidName`` for a bad name.
    public func cache(_ name: String) throws(CacheError) -> Cache {
        Cache(name: try CacheName(validating: name), store: store, codec: codec, singleFlight: singleFlight)
    }

    /// The cache called `name`.
    public func cache(_ name: CacheName) -> Cache {
        Cache(name: name, store: store, codec: codec, singleFlight: singleFlight)
    }
}
