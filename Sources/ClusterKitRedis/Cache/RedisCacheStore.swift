import ClusterKit
import Logging
import Synchronization

/// A ``CacheStore`` on Redis: every node with the same server, database and `APP_NAME`
/// shares the entries.
///
/// ## Semantics
/// - Keys are `APP_NAME:cache:<cache name>:<key>` (cache names cannot contain `:`, so no
///   key escapes its cache); values are stored as raw bytes.
/// - TTLs are milliseconds (`PX`, rounded up); expiry is Redis's own, so a missing and an
///   expired key are the same thing for every operation.
/// - `add` is `SET NX`; `getMany`/`setMany`/`deleteMany` are one command each (`MGET`,
///   `MSET`, a Lua script for `SET … PX` of every pair, `DEL`); `increment` and `touch` are
///   Lua scripts, atomic on the server, so `incr` is atomic across every node.
/// - `clear` walks the cache's namespace with incremental `SCAN … MATCH` and `UNLINK`s
///   what it finds: never `KEYS` or `FLUSHDB`, never another cache or app.
/// - Failures of the server (lost connection, timeout) are ``CacheError/Code/backend``
///   errors naming the Redis error; the client reconnects by itself.
/// - ``close()`` closes this node's connections; every later call throws
///   ``CacheError/closed``. Entries stay on the server for the other nodes.
public final class RedisCacheStore: CacheStore {
    private let client: RedisClient
    private let prefix: String
    /// `prefix` as UTF-8, for ``slotBytes(_:_:)``.
    private let prefixBytes: [UInt8]
    private static let getName = Array("GET".utf8)
    private static let setName = Array("SET".utf8)
    private let closed = Atomic<Bool>(false)

    /// A node using `client` (which it closes on ``close()``) in namespace `appName`.
    public init(client: RedisClient, appName: String) {
        self.client = client
        self.prefix = "\(appName):\(Primitive.cache.keyRole):"
        self.prefixBytes = Array(prefix.utf8)
    }

    /// The node the registry builds: its own connections to the context's URL.
    public convenience init(context: AdapterContext) async throws {
        self.init(client: try await RedisClient.connect(for: context), appName: context.appName)
    }

    /// Runs `body` on one of this node's connection threads, so that its calls on this
    /// store, one after another, skip the thread hand-offs a caller on the cooperative
    /// pool pays per command (see ``RedisClient/withConnectionAffinity(isolation:_:)``,
    /// whose guarantees and caveats apply). Results and errors are those of the same calls
    /// made outside; worth it for a sequential caller, not for many concurrent ones.
    public func withConnectionAffinity<T, Failure: Error>(isolation: isolated (any Actor)? = #isolation,
                                                          _ body: () async throws(Failure) -> T) async throws(Failure) -> T {
        try await client.withConnectionAffinity(isolation: isolation, body)
    }

    // MARK: CacheStore

    public func get(_ cache: CacheName, _ key: String) async throws(CacheError) -> [UInt8]? {
        let slot = try slotBytes(cache, key)
        return try await run { () throws(RedisError) in try await client.send(RedisCommand([Self.getName, slot])).bytes() }
    }

    public func set(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        let slot = try slotBytes(cache, key)
        try await run { () throws(RedisError) in
            switch ttl {
            case nil: try await client.send(RedisCommand([Self.setName, slot, value]))
            case let ttl? where ttl > .zero: try await client.send(RedisCommand("SET", slot, value, "PX", milliseconds(ttl)))
            default: try await client.send(RedisCommand("DEL", slot))
            }
        }
    }

    public func add(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) -> Bool {
        let slot = try slot(cache, key)
        if let ttl, ttl <= .zero {
            try checkOpen()
            return false
        }
        return try await run { () throws(RedisError) in
            let reply = if let ttl {
                try await client.send(RedisCommand("SET", slot, value, "NX", "PX", milliseconds(ttl)))
            } else {
                try await client.send(RedisCommand("SET", slot, value, "NX"))
            }
            return !reply.isNull
        }
    }

    @discardableResult
    public func delete(_ cache: CacheName, _ key: String) async throws(CacheError) -> Bool {
        let slot = try slot(cache, key)
        return try await run { () throws(RedisError) in try await client.send(RedisCommand("DEL", slot)).integer() > 0 }
    }

    public func has(_ cache: CacheName, _ key: String) async throws(CacheError) -> Bool {
        let slot = try slot(cache, key)
        return try await run { () throws(RedisError) in try await client.send(RedisCommand("EXISTS", slot)).integer() > 0 }
    }

    public func getMany(_ cache: CacheName, _ keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        let slots = try keys.map { (key) throws(CacheError) in try slot(cache, key) }
        try checkOpen()
        if slots.isEmpty { return [] }
        return try await run { () throws(RedisError) in
            let replies = try await client.send(RedisCommand("MGET", arguments: slots)).array()
            guard replies.count == slots.count else { throw RedisError(code: .protocolError, message: "MGET returned \(replies.count) values for \(slots.count) keys") }
            return try replies.map { (reply) throws(RedisError) in try reply.bytes() }
        }
    }

    public func setMany(_ cache: CacheName, _ entries: [(key: String, value: [UInt8])], ttl: Duration?) async throws(CacheError) {
        let slots = try entries.map { (entry) throws(CacheError) in try slot(cache, entry.key) }
        try checkOpen()
        if entries.isEmpty { return }
        try await run { () throws(RedisError) in
            switch ttl {
            case nil:
                var arguments: [any RedisArgument] = []
                for (slot, entry) in zip(slots, entries) { arguments += [slot, entry.value] }
                try await client.send(RedisCommand("MSET", arguments: arguments))
            case let ttl? where ttl > .zero:
                try await client.evaluate(RedisCacheScripts.setManyWithTTL, keys: slots,
                                          arguments: [milliseconds(ttl)] + entries.map(\.value))
            default:
                try await client.send(RedisCommand("DEL", arguments: slots))
            }
        }
    }

    @discardableResult
    public func deleteMany(_ cache: CacheName, _ keys: [String]) async throws(CacheError) -> Int {
        var seen = Set<String>()
        let slots = try keys.map { (key) throws(CacheError) in try slot(cache, key) }.filter { seen.insert($0).inserted }
        try checkOpen()
        if slots.isEmpty { return 0 }
        return try await run { () throws(RedisError) in Int(try await client.send(RedisCommand("DEL", arguments: slots)).integer()) }
    }

    public func increment(_ cache: CacheName, _ key: String, by delta: Int64, ttl: Duration?) async throws(CacheError) -> Int64 {
        let slot = try slot(cache, key)
        let ttlArgument: Int64 = ttl.map { $0 > .zero ? milliseconds($0) : 0 } ?? -1
        do {
            return try await run { () throws(RedisError) in
                try await client.evaluate(RedisCacheScripts.increment, keys: [slot], arguments: [delta, ttlArgument]).integer()
            }
        } catch where error.code == .backend && (error.message.contains("not an integer") || error.message.contains("overflow")) {
            throw CacheError.notNumeric(key: key)
        }
    }

    public func timeToLive(_ cache: CacheName, _ key: String) async throws(CacheError) -> CacheTTL {
        let slot = try slot(cache, key)
        let remaining = try await run { () throws(RedisError) in try await client.send(RedisCommand("PTTL", slot)).integer() }
        switch remaining {
        case -1: return .persistent
        case ..<0: return .missing
        default: return .expires(in: .milliseconds(remaining))
        }
    }

    @discardableResult
    public func touch(_ cache: CacheName, _ key: String, ttl: Duration?) async throws(CacheError) -> Bool {
        let slot = try slot(cache, key)
        let ttlArgument: Int64 = ttl.map { $0 > .zero ? milliseconds($0) : 0 } ?? -1
        return try await run { () throws(RedisError) in
            try await client.evaluate(RedisCacheScripts.touch, keys: [slot], arguments: [ttlArgument]).integer() == 1
        }
    }

    public func clear(_ cache: CacheName) async throws(CacheError) {
        let pattern = RedisGlob.escape(prefix + cache.rawValue + ":") + "*"
        try await run { () throws(RedisError) in
            var cursor = "0"
            repeat {
                let reply = try await client.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)).array()
                guard reply.count == 2, let next = try reply[0].bytes() else { throw reply.first?.unexpected("a SCAN cursor") ?? RedisError(code: .protocolError, message: "empty SCAN reply") }
                var keys: [[UInt8]] = []
                for key in try reply[1].array() { if let key = try key.bytes() { keys.append(key) } }
                if !keys.isEmpty { try await client.send(RedisCommand("UNLINK", arguments: keys)) }
                cursor = String(decoding: next, as: UTF8.self)
            } while cursor != "0"
        }
    }

    public func checkHealth() async throws {
        try checkOpen()
        try await client.checkHealth()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        await client.close()
    }

    // MARK: Helpers

    private func slot(_ cache: CacheName, _ key: String) throws(CacheError) -> String {
        try CacheKeyRules.validate(key)
        return prefix + cache.rawValue + ":" + key
    }

    /// ``slot(_:_:)`` as the command argument's bytes, built in one buffer: the `get` and
    /// `set` paths then make no intermediate strings or argument arrays.
    private func slotBytes(_ cache: CacheName, _ key: String) throws(CacheError) -> [UInt8] {
        try CacheKeyRules.validate(key)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefixBytes.count + cache.rawValue.utf8.count + 1 + key.utf8.count)
        bytes.append(contentsOf: prefixBytes)
        bytes.append(contentsOf: cache.rawValue.utf8)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: key.utf8)
        return bytes
    }

    private func checkOpen() throws(CacheError) {
        if closed.load(ordering: .sequentiallyConsistent) { throw CacheError.closed }
    }

    /// Runs `body` unless closed, mapping client errors to ``CacheError``.
    @discardableResult
    private func run<T>(_ body: () async throws(RedisError) -> T) async throws(CacheError) -> T {
        try checkOpen()
        do {
            return try await body()
        } catch where error.code == .closed {
            throw CacheError.closed
        } catch {
            throw CacheError.backend("redis: \(error)")
        }
    }
}

/// Escapes Redis glob metacharacters so a prefix matches only itself in `SCAN MATCH`.
enum RedisGlob {
    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            if "*?[]\\^-".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}
