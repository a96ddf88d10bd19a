import Synchronization

/// The part of a ``MemoryCacheStore`` node that does not depend on its clock type: its
/// namespace, "closed" flag and the backend's table. Being non-generic, `get` runs here
/// straight from the caller's inlined shell, with no generic entry (callgrind: ~60
/// instructions per `get` to dispatch a generic body to its specialisation).
@usableFromInline
final class MemoryCacheNodeCore: Sendable {
    /// The app namespace (`APP_NAME`) of this node's keys.
    let appName: String
    /// The hasher fed with `appName`: each key's hash starts from a copy (``MemoryCacheKey``).
    let appHasher: MemoryCacheHasher
    let closed = Atomic<Bool>(false)
    /// The backend's table, shared with every other node of the backend.
    let tables: MemoryCacheTableLock

    init(appName: String, tables: MemoryCacheTableLock) {
        self.appName = appName
        self.appHasher = MemoryCacheKey.hasher(forApp: appName)
        self.tables = tables
    }

    /// Validates `key` and returns the hash of its entry in this node's namespace of `cache`.
    @inline(__always)
    func validatedHash(_ cache: CacheName, _ key: String) throws(CacheError) -> Int {
        try MemoryCacheKey.hash(validating: key, cacheHash: cache.memoryHash, appHasher: appHasher)
    }

    /// ``MemoryCacheStore/get(_:_:)``: `now` reads the node's clock (as a duration since the
    /// table's origin) and is called inside the lock, only when some entry has a deadline.
    @usableFromInline
    func get(_ cache: CacheName, _ key: String, now: () -> Duration) throws(CacheError) -> [UInt8]? {
        let hash = try validatedHash(cache, key)
        if closed.load(ordering: .acquiring) { throw CacheError.closed }
        return tables.table.withLock { table in
            var time = Duration.zero
            if table.mayHaveDeadlines {
                time = now()
                table.removeExpired(now: time)
            }
            guard let slot = table.lookup(app: appName, cache: cache.rawValue, key: key, hash: hash, now: time) else { return nil }
            table.markUsed(slot)
            return table.value(at: slot)
        }
    }
}

/// The lock around the table every memory cache node of one backend shares (a class of its
/// own, not generic, so that ``MemoryCacheNodeCore`` can hold it).
final class MemoryCacheTableLock: Sendable {
    let table = Mutex(MemoryCacheTable())
}
