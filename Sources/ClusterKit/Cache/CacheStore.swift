/// The storage behind every named ``Cache`` of one node: raw bytes under `(cache name, key)`.
///
/// Adapters implement this; applications use ``Cache`` (typed values, codec, single-flight
/// `wrap`) obtained from ``CacheManager``.
///
/// ## Semantics every adapter follows
/// - Keys live in the namespace `APP_NAME:cache:<cache name>:<key>`; cache names match
///   `[A-Za-z0-9_.-]+` (checked by ``CacheName``), keys are any non-empty text up to
///   ``CacheKeyRules/maximumKeyLength`` bytes, so no key can escape its cache.
/// - A missing key and an expired key are the same thing for every operation.
/// - TTL: a positive TTL expires the entry after that long; `nil` means no expiry; a zero or
///   negative TTL stores nothing (and removes an existing entry).
/// - Values handed in and out are copies: mutating them never changes the stored value.
/// - `incr` is atomic across all nodes; a missing key starts at 0; the TTL is set only by
///   the increment that creates the entry (a fixed window); a value that is not a decimal
///   64-bit integer fails with ``CacheError/Code/notNumeric``.
/// - `clear` removes only the named cache of this app.
/// - Keys are validated by the store too (``CacheKeyRules/validate(_:)``): an empty or too
///   long key is ``CacheError/Code/invalidKey``, and a batch with one bad key writes nothing.
/// - After `close()` every operation throws ``CacheError/closed``; closing one node never
///   removes shared entries.
public protocol CacheStore: ClusterAdapter {
    /// The stored bytes, or `nil` when missing or expired.
    func get(_ cache: CacheName, _ key: String) async throws -> [UInt8]?
    /// Stores `value`, replacing any previous one (and its TTL).
    func set(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws
    /// Stores `value` only when the key is absent (or expired). Returns whether it stored
    /// (so `false` for a zero or negative `ttl`, which stores nothing). A refused add changes
    /// nothing, not even the TTL.
    func add(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws -> Bool
    /// Removes the key. Returns whether it existed (and had not expired).
    @discardableResult
    func delete(_ cache: CacheName, _ key: String) async throws -> Bool
    /// Whether the key exists and has not expired.
    func has(_ cache: CacheName, _ key: String) async throws -> Bool
    /// Values in the order of `keys`; `nil` marks a miss. One round trip on networked stores.
    func getMany(_ cache: CacheName, _ keys: [String]) async throws -> [[UInt8]?]
    /// Stores every pair with the same TTL. One round trip on networked stores.
    func setMany(_ cache: CacheName, _ entries: [(key: String, value: [UInt8])], ttl: Duration?) async throws
    /// Removes the keys; returns how many existed.
    @discardableResult
    func deleteMany(_ cache: CacheName, _ keys: [String]) async throws -> Int
    /// Atomically adds `delta` to the integer stored at `key` and returns the new value.
    /// `ttl` applies only when this increment creates the key; a zero or negative `ttl` then
    /// stores nothing (the would-be value is still returned).
    func increment(_ cache: CacheName, _ key: String, by delta: Int64, ttl: Duration?) async throws -> Int64
    /// The remaining lifetime of the key.
    func timeToLive(_ cache: CacheName, _ key: String) async throws -> CacheTTL
    /// Replaces the TTL of an existing key (`nil` = persist; zero or negative = remove it, as
    /// for `set`). Never revives an expired or missing key; returns whether the key existed.
    @discardableResult
    func touch(_ cache: CacheName, _ key: String, ttl: Duration?) async throws -> Bool
    /// Removes every key of the named cache of this app, and nothing else.
    func clear(_ cache: CacheName) async throws
}

/// The remaining lifetime of a cache key.
public enum CacheTTL: Sendable, Hashable {
    /// The key does not exist (or has expired).
    case missing
    /// The key exists and never expires.
    case persistent
    /// The key exists and expires after this much time (never negative).
    case expires(in: Duration)
}

/// The name of one cache inside an app's namespace: `[A-Za-z0-9_.-]+`, 1...128 characters.
public struct CacheName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    /// The name's hash for the memory cache's table (``MemoryCacheKey/nameHash(_:)``),
    /// computed once here so that no lookup hashes the name. Not part of the value: equality
    /// and `Hashable` use `rawValue` only.
    let memoryHash: Int

    /// Validates `rawValue`; throws ``CacheError/Code/invalidName`` when it does not match.
    public init(validating rawValue: String) throws(CacheError) {
        guard (1...128).contains(rawValue.utf8.count),
              rawValue.utf8.allSatisfy({ CacheName.allowed($0) })
        else { throw CacheError.invalidName(rawValue) }
        self.rawValue = rawValue
        self.memoryHash = MemoryCacheKey.nameHash(rawValue)
    }

    /// A literal name; a literal that is not a valid name is a programming error.
    public init(stringLiteral value: String) {
        do { try self.init(validating: value) } catch { preconditionFailure("invalid cache name literal \(value)") }
    }

    public var description: String { rawValue }

    public static func == (lhs: CacheName, rhs: CacheName) -> Bool { lhs.rawValue == rhs.rawValue }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    static func allowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}

/// Rules for cache keys shared by all adapters.
public enum CacheKeyRules {
    /// Longest accepted key, in UTF-8 bytes.
    public static let maximumKeyLength = 1024

    /// Throws ``CacheError/Code/invalidKey`` for an empty or too long key.
    public static func validate(_ key: String) throws(CacheError) {
        if key.isEmpty { throw CacheError.invalidKey("the key is empty") }
        if key.utf8.count > maximumKeyLength {
            throw CacheError.invalidKey("the key is \(key.utf8.count) bytes long, the limit is \(maximumKeyLength)")
        }
    }
}
