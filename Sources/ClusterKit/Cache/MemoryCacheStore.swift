import Synchronization

/// The in-memory ``CacheStore``: one shared table per ``MemoryBackend``, so every node built
/// from the same backend sees the same entries, the way every node sees one Redis (a counter
/// incremented on one node is read on another).
///
/// ## Semantics
/// - Namespaces: entries are keyed by (`APP_NAME`, cache name, key bytes), so two apps and
///   two caches never see each other's keys, whatever the keys contain. Keys compare as
///   UTF-8 bytes, like Redis (canonically equivalent but differently encoded strings are
///   different keys).
/// - Values are `[UInt8]` copies in and out: mutating an array after `set` or after `get`
///   never changes the stored value.
/// - Expiry is exact against the injected clock: an entry stored with TTL `t` at instant
///   `n` is present before `n + t` and missing from `n + t` on, for every operation.
///   Expired entries are dropped in deadline order before each operation, so they never
///   occupy the cap.
/// - Size cap: at most ``Configuration/maximumEntries`` entries in the whole store (all
///   apps, all caches — it is one "server"). Storing a new key beyond the cap evicts the
///   least recently used entries. Reading or writing a value counts as use (`get`,
///   `getMany`, `set`, `setMany`, `add` when it stores, `increment`, `touch`); `has` and
///   `timeToLive` do not (like Redis' `EXISTS`/`PTTL`). Nodes sharing a backend should use
///   the same cap; each write enforces the writing node's cap.
/// - `increment` reads and writes decimal ASCII text (see Redis `INCRBY`): bytes "5" can be
///   incremented and the result reads back as bytes "6". It is atomic across all nodes of
///   the backend. A missing or expired key starts at 0 and gets the TTL (a fixed window);
///   an existing key keeps its TTL.
/// - `close()` only closes this node: its operations then throw ``CacheError/closed``; the
///   shared entries stay for the other nodes. There are no timers or background tasks.
///
/// ## Why a class with a mutex, not an actor
/// The entries are shared by every node of the backend, so they need one lock whatever this
/// type is; each operation is a short critical section that never suspends, which also
/// makes `increment`, `add` and the batch operations atomic across nodes. A per-node actor
/// would only add a hop in front of that lock. The node's own state is its immutable
/// configuration and an atomic "closed" flag.
///
/// All nodes of one backend must use the same clock type (the shared table stores its
/// instants); mixing clock types on one backend is a programming error and traps.
public final class MemoryCacheStore<C: Clock>: CacheStore where C.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// The most entries the whole store holds (`CACHE_MEMORY_MAX`); at least 1.
        public var maximumEntries: Int

        public init(maximumEntries: Int = 2000) {
            self.maximumEntries = max(1, maximumEntries)
        }
    }

    /// The app namespace (`APP_NAME`) of this node's keys.
    public var appName: String { core.appName }
    public let nodeID: NodeID
    public let configuration: Configuration
    private let clock: C
    private let shared: MemoryCacheShared<C.Instant>
    /// Namespace, closed flag and table: what does not depend on the clock type.
    @usableFromInline let core: MemoryCacheNodeCore

    /// A node on `backend`: nodes built from one backend share their entries.
    public init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(), clock: C) {
        self.nodeID = nodeID
        self.configuration = configuration
        self.clock = clock
        let shared = backend.component("cache") { MemoryCacheShared<C.Instant>(origin: clock.now) }
        self.shared = shared
        self.core = MemoryCacheNodeCore(appName: appName, tables: shared.tables)
    }

    // MARK: ClusterAdapter

    /// Always healthy until closed.
    public func checkHealth() async throws(CacheError) {
        if core.closed.load(ordering: .acquiring) { throw CacheError.closed }
    }

    /// Closes this node only; the shared entries stay. Idempotent.
    public func close() async {
        core.closed.store(true, ordering: .releasing)
    }

    // MARK: Single keys

    // The single-key operations are `@inlinable` async shells over synchronous bodies: none of
    // them ever suspends, and inlined into the caller the `async` call (a task-allocator frame
    // and an executor check, ~570 instructions under callgrind, as much as the store's own
    // work for a `get`) disappears; callers through `any CacheStore` still pay it.
    //
    // `get` goes straight to the non-generic ``MemoryCacheNodeCore``. `@_specialize` on every
    // other data operation: called through `any CacheStore`, the generic
    // body looked up generic metadata on every call (callgrind: ~45 % of a `get` before). The
    // default clock gets a concrete copy; a test clock keeps the generic path.

    @inlinable
    public func get(_ cache: CacheName, _ key: String) async throws(CacheError) -> [UInt8]? {
        try core.get(cache, key) { tableTime() }
    }

    @inlinable
    public func set(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        try syncSet(cache, key, value, ttl: ttl)
    }

    @inlinable
    public func add(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) -> Bool {
        try syncAdd(cache, key, value, ttl: ttl)
    }

    @inlinable @discardableResult
    public func delete(_ cache: CacheName, _ key: String) async throws(CacheError) -> Bool {
        try syncDelete(cache, key)
    }

    @inlinable
    public func has(_ cache: CacheName, _ key: String) async throws(CacheError) -> Bool {
        try syncHas(cache, key)
    }

    @usableFromInline @_specialize(where C == ContinuousClock)
    func syncSet(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) throws(CacheError) {
        let hash = try validatedHash(cache, key)
        try withTable(needsTime: ttl != nil) { table, now in write(&table, cache, key, hash, value, ttl: ttl, now: now) }
    }

    @usableFromInline @_specialize(where C == ContinuousClock)
    func syncAdd(_ cache: CacheName, _ key: String, _ value: [UInt8], ttl: Duration?) throws(CacheError) -> Bool {
        let hash = try validatedHash(cache, key)
        return try withTable(needsTime: ttl != nil) { table, now in
            guard lookup(&table, cache, key, hash, now: now) == nil else { return false }
            guard let deadline = Self.deadline(ttl, now: now) else { return false }
            table.insert(entryKey(cache, key, hash), value: value, deadline: deadline.offset, capacity: configuration.maximumEntries)
            return true
        }
    }

    @usableFromInline @_specialize(where C == ContinuousClock)
    func syncDelete(_ cache: CacheName, _ key: String) throws(CacheError) -> Bool {
        let hash = try validatedHash(cache, key)
        return try withTable(needsTime: false) { table, now in
            guard let slot = lookup(&table, cache, key, hash, now: now) else { return false }
            table.remove(slot: slot)
            return true
        }
    }

    @usableFromInline @_specialize(where C == ContinuousClock)
    func syncHas(_ cache: CacheName, _ key: String) throws(CacheError) -> Bool {
        let hash = try validatedHash(cache, key)
        return try withTable(needsTime: false) { table, now in lookup(&table, cache, key, hash, now: now) != nil }
    }

    // MARK: Batches

    @_specialize(where C == ContinuousClock)
    public func getMany(_ cache: CacheName, _ keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        let hashes = try validatedHashes(cache, keys)
        if keys.isEmpty { return [] }
        return try withTable(needsTime: false) { table, now in
            zip(keys, hashes).map { key, hash in
                guard let slot = lookup(&table, cache, key, hash, now: now) else { return nil }
                table.markUsed(slot)
                return table.value(at: slot)
            }
        }
    }

    @_specialize(where C == ContinuousClock)
    public func setMany(_ cache: CacheName, _ entries: [(key: String, value: [UInt8])], ttl: Duration?) async throws(CacheError) {
        let hashes = try validatedHashes(cache, entries.map(\.key))
        if entries.isEmpty { return }
        try withTable(needsTime: ttl != nil) { table, now in
            for (entry, hash) in zip(entries, hashes) {
                write(&table, cache, entry.key, hash, entry.value, ttl: ttl, now: now)
            }
        }
    }

    @discardableResult
    @_specialize(where C == ContinuousClock)
    public func deleteMany(_ cache: CacheName, _ keys: [String]) async throws(CacheError) -> Int {
        let hashes = try validatedHashes(cache, keys)
        if keys.isEmpty { return 0 }
        return try withTable(needsTime: false) { table, now in
            var removed = 0
            for (key, hash) in zip(keys, hashes) {
                if let slot = lookup(&table, cache, key, hash, now: now) {
                    table.remove(slot: slot)
                    removed += 1
                }
            }
            return removed
        }
    }

    // MARK: Counters and TTL

    @_specialize(where C == ContinuousClock)
    public func increment(_ cache: CacheName, _ key: String, by delta: Int64, ttl: Duration?) async throws(CacheError) -> Int64 {
        let hash = try validatedHash(cache, key)
        return try withTable(needsTime: ttl != nil) { table, now throws(CacheError) in
            if let slot = lookup(&table, cache, key, hash, now: now) {
                guard let current = CacheDecimal.parse(table.value(at: slot)) else { throw CacheError.notNumeric(key: key) }
                let (next, overflow) = current.addingReportingOverflow(delta)
                if overflow { throw CacheError.notNumeric(key: key) }
                table.replaceValue(at: slot, CacheDecimal.encode(next))
                table.markUsed(slot)
                return next
            }
            // The increment creates the entry: it starts at 0 and gets the window's TTL. A
            // zero or negative TTL stores nothing, as for `set`.
            if let deadline = Self.deadline(ttl, now: now) {
                table.insert(entryKey(cache, key, hash), value: CacheDecimal.encode(delta), deadline: deadline.offset,
                             capacity: configuration.maximumEntries)
            }
            return delta
        }
    }

    @_specialize(where C == ContinuousClock)
    public func timeToLive(_ cache: CacheName, _ key: String) async throws(CacheError) -> CacheTTL {
        let hash = try validatedHash(cache, key)
        return try withTable { table, now in
            guard let slot = lookup(&table, cache, key, hash, now: now) else { return .missing }
            guard let deadline = table.deadline(at: slot) else { return .persistent }
            return .expires(in: deadline - now)
        }
    }

    /// A zero or negative `ttl` removes an existing key (and returns `true`), like Redis'
    /// `PEXPIRE` with a non-positive time.
    @discardableResult
    @_specialize(where C == ContinuousClock)
    public func touch(_ cache: CacheName, _ key: String, ttl: Duration?) async throws(CacheError) -> Bool {
        let hash = try validatedHash(cache, key)
        return try withTable(needsTime: ttl != nil) { table, now in
            guard let slot = lookup(&table, cache, key, hash, now: now) else { return false }
            if let deadline = Self.deadline(ttl, now: now) {
                table.setDeadline(at: slot, deadline.offset)
                table.markUsed(slot)
            } else {
                table.remove(slot: slot)
            }
            return true
        }
    }

    public func clear(_ cache: CacheName) async throws(CacheError) {
        try withTable(needsTime: false) { table, _ in table.removeAll(app: appName, cache: cache.rawValue) }
    }

    // MARK: Internals

    /// The deadline for `ttl` from `now` (both as durations since the table's origin):
    /// `.some(nil)` = never, `nil` = not to be stored.
    private struct Deadline { let offset: Duration? }
    private static func deadline(_ ttl: Duration?, now: Duration) -> Deadline? {
        guard let ttl else { return Deadline(offset: nil) }
        guard ttl > .zero else { return nil }
        return Deadline(offset: now + ttl)
    }

    /// `set` semantics: replace value and TTL; a zero or negative TTL removes the key.
    private func write(_ table: inout MemoryCacheTable, _ cache: CacheName, _ key: String, _ hash: Int,
                       _ value: [UInt8], ttl: Duration?, now: Duration) {
        let existing = lookup(&table, cache, key, hash, now: now)
        guard let deadline = Self.deadline(ttl, now: now) else {
            if let existing { table.remove(slot: existing) }
            return
        }
        if let existing {
            table.replaceValue(at: existing, value)
            table.setDeadline(at: existing, deadline.offset)
            table.markUsed(existing)
        } else {
            table.insert(entryKey(cache, key, hash), value: value, deadline: deadline.offset, capacity: configuration.maximumEntries)
        }
    }

    /// Validates `key` and returns the hash of its entry in this node's namespace of `cache`.
    private func validatedHash(_ cache: CacheName, _ key: String) throws(CacheError) -> Int {
        try core.validatedHash(cache, key)
    }

    /// Every key validated before any is used, so a batch with one bad key does nothing.
    private func validatedHashes(_ cache: CacheName, _ keys: [String]) throws(CacheError) -> [Int] {
        var hashes: [Int] = []
        hashes.reserveCapacity(keys.count)
        for key in keys { hashes.append(try core.validatedHash(cache, key)) }
        return hashes
    }

    /// The slot of the live entry `key` of this node's namespace of `cache`, if any.
    private func lookup(_ table: inout MemoryCacheTable, _ cache: CacheName, _ key: String, _ hash: Int, now: Duration) -> Int? {
        table.lookup(app: appName, cache: cache.rawValue, key: key, hash: hash, now: now)
    }

    /// The identity a new entry is stored under.
    private func entryKey(_ cache: CacheName, _ key: String, _ hash: Int) -> MemoryCacheKey {
        MemoryCacheKey(app: appName, cache: cache.rawValue, key: key, hash: hash)
    }

    /// Runs `body` on the shared table under its lock, with the current time (as a duration
    /// since the table's origin) read inside the lock, so time never runs backwards between
    /// operations of different nodes, and expired entries already dropped.
    ///
    /// The clock is read only when the outcome can depend on it: when `needsTime` (the
    /// operation computes a deadline or a remaining time) or when some entry has a deadline.
    /// Otherwise nothing can expire and `body` gets `.zero`, which it never consults.
    ///
    /// Always inlined: called with a closure context, every operation retained and released
    /// the node, the app name and the cache name around the lock (a dozen reference-count
    /// operations per `get`).
    @inline(__always)
    private func withTable<T>(needsTime: Bool = true,
                              _ body: (inout MemoryCacheTable, Duration) throws(CacheError) -> T) throws(CacheError) -> T {
        if core.closed.load(ordering: .acquiring) { throw CacheError.closed }
        return try core.tables.table.withLock { (table: inout MemoryCacheTable) throws(CacheError) -> T in
            guard needsTime || table.mayHaveDeadlines else { return try body(&table, .zero) }
            let now = tableTime()
            table.removeExpired(now: now)
            return try body(&table, now)
        }
    }

    /// The clock's reading as a duration since the table's origin. Read under the table's
    /// lock only.
    @usableFromInline
    func tableTime() -> Duration {
        shared.origin.duration(to: clock.now)
    }
}

extension MemoryCacheStore where C == ContinuousClock {
    /// A node on `backend` using the real clock.
    public convenience init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init()) {
        self.init(backend: backend, appName: appName, nodeID: nodeID, configuration: configuration, clock: ContinuousClock())
    }

    /// The node the registry builds: `APP_NAME` and `CACHE_MEMORY_MAX` from the
    /// configuration, state shared through `context.memory`.
    public convenience init(context: AdapterContext) {
        self.init(backend: context.memory, appName: context.appName, nodeID: context.nodeID,
                  configuration: Configuration(maximumEntries: context.configuration.cacheMemoryMax))
    }
}

/// The state every memory cache node of one backend shares.
final class MemoryCacheShared<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The table stores instants as durations since this one (the clock reading of the node
    /// that created the table), which keeps the table free of generics.
    let origin: Instant
    let tables = MemoryCacheTableLock()

    init(origin: Instant) { self.origin = origin }
}
