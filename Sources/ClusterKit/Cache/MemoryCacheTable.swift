/// The entries of one memory cache "server": every node built from one ``MemoryBackend``
/// shares one table (behind a mutex, see ``MemoryCacheStore``).
///
/// - Entries are identified by ``MemoryCacheKey`` (app, cache name, key, compared as UTF-8
///   bytes, like Redis does, so canonically equivalent but differently encoded strings —
///   "é" vs "e" + U+0301 — are different keys, exactly as they are in Redis).
/// - Storage is one contiguous array of entries (slots, reused after removal) and an
///   open-addressing hash index of slot numbers (linear probing, at most half full,
///   deletion by backward shift, so no tombstones). Nothing in it is generic: deadlines are
///   durations since an origin instant chosen by the owner, so lookups run without generic
///   value witnesses.
/// - Recency is a doubly linked list over the slots (``MemoryCacheRecency``, newest first),
///   so marking an entry used and evicting the least recently used one are O(1).
/// - Deadlines sit in a min-heap; ``removeExpired(now:)`` drops every expired entry in
///   deadline order, so expired entries never count against the cap and never push out
///   live ones.
///
/// The table does no locking and knows nothing about TTL policy (zero TTL, fixed windows):
/// ``MemoryCacheStore`` composes these primitives inside one critical section per operation.
struct MemoryCacheTable: Sendable {
    private struct Entry: Sendable {
        var id: MemoryCacheKey
        var value: [UInt8]
        /// Duration since the origin; `nil` = never expires.
        var deadline: Duration?
        /// Identifies the heap item that currently stands for `deadline`.
        var expiryToken: UInt64
        /// `false` for a free slot (waiting in `freeSlots`).
        var isLive: Bool

        static let free = Entry(id: .placeholder, value: [], deadline: nil, expiryToken: 0, isLive: false)
    }

    private var entries: [Entry] = []
    private var freeSlots: [Int] = []
    /// Slot numbers by hash, -1 = empty bucket; the size is a power of two, at least twice
    /// the number of entries.
    private var buckets = [Int](repeating: -1, count: 16)
    private var recency = MemoryCacheRecency()
    private var expiries = MemoryCacheExpiryHeap()
    private var nextToken: UInt64 = 0

    /// The number of entries held (after ``removeExpired(now:)``, all of them live).
    private(set) var count = 0

    /// `false` only when no entry has a deadline (every deadline has an item in the heap
    /// until it surfaces): then neither ``removeExpired(now:)`` nor a lookup needs the time.
    var mayHaveDeadlines: Bool { expiries.count > 0 }

    init() {}

    // MARK: Housekeeping

    /// Removes every entry whose deadline is at or before `now`. Run at the start of every
    /// operation.
    mutating func removeExpired(now: Duration) {
        while let first = expiries.first, first.deadline <= now {
            expiries.removeFirst()
            if entries[first.slot].isLive, entries[first.slot].expiryToken == first.token {
                remove(slot: first.slot)
            }
        }
    }

    /// Evicts least recently used entries until at most `capacity` remain.
    mutating func evict(toCapacity capacity: Int) {
        while count > max(0, capacity), recency.oldest >= 0 {
            remove(slot: recency.oldest)
        }
    }

    // MARK: Lookup

    /// The slot of the live entry `key` of the named cache of `app` (whose hash is `hash`,
    /// see ``MemoryCacheKey``), or `nil`. An entry found expired is removed.
    mutating func lookup(app: String, cache: String, key: String, hash: Int, now: Duration) -> Int? {
        let (bucket, found) = probe(app: app, cache: cache, key: key, hash: hash)
        guard found else { return nil }
        let slot = buckets[bucket]
        if let deadline = entries[slot].deadline, deadline <= now {
            remove(slot: slot)
            return nil
        }
        return slot
    }

    func value(at slot: Int) -> [UInt8] { entries[slot].value }

    func deadline(at slot: Int) -> Duration? { entries[slot].deadline }

    // MARK: Changing entries

    /// Stores a new entry (`id` must not be present) as the most recently used one, then
    /// evicts down to `capacity`. The new entry itself is never evicted (capacity ≥ 1).
    mutating func insert(_ id: MemoryCacheKey, value: [UInt8], deadline: Duration?, capacity: Int) {
        growIndexIfNeeded()
        let (bucket, found) = probe(app: id.app, cache: id.cache, key: id.key, hash: id.hash)
        precondition(!found, "MemoryCacheTable.insert of a present key")
        let entry = Entry(id: id, value: value, deadline: nil, expiryToken: 0, isLive: true)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            entries[slot] = entry
        } else {
            slot = entries.count
            entries.append(entry)
        }
        buckets[bucket] = slot
        count += 1
        recency.pushNewest(slot)
        setDeadline(at: slot, deadline)
        evict(toCapacity: max(1, capacity))
    }

    /// Replaces the value, keeping the deadline.
    mutating func replaceValue(at slot: Int, _ value: [UInt8]) {
        entries[slot].value = value
    }

    /// Replaces the deadline (`nil` = never expires).
    mutating func setDeadline(at slot: Int, _ deadline: Duration?) {
        nextToken &+= 1
        entries[slot].deadline = deadline
        entries[slot].expiryToken = nextToken
        guard let deadline else { return }
        expiries.insert(.init(deadline: deadline, slot: slot, token: nextToken))
        compactExpiriesIfMostlyStale()
    }

    /// Moves the entry to the most recently used end.
    mutating func markUsed(_ slot: Int) {
        recency.moveToNewest(slot)
    }

    mutating func remove(slot: Int) {
        guard entries[slot].isLive else { return }
        recency.remove(slot)
        removeFromIndex(slot)
        entries[slot] = .free
        freeSlots.append(slot)
        count -= 1
    }

    /// Removes every entry of the named cache of `app` and nothing else (a scan of the
    /// whole table: `clear` is rare, and keeping per-namespace lists would cost every write).
    mutating func removeAll(app: String, cache: String) {
        for slot in entries.indices where entries[slot].isLive && entries[slot].id.isIn(app: app, cache: cache) {
            remove(slot: slot)
        }
    }

    // MARK: Index

    /// The bucket holding the entry (`found`), or the empty bucket where it would go.
    private func probe(app: String, cache: String, key: String, hash: Int) -> (bucket: Int, found: Bool) {
        // Through a buffer pointer: the stored identity is compared in place, not copied out
        // of the array (a copy retains and releases its three strings).
        entries.withUnsafeBufferPointer { stored in
            let mask = buckets.count - 1
            var bucket = hash & mask
            while true {
                let slot = buckets[bucket]
                if slot < 0 { return (bucket, false) }
                if stored[slot].id.matches(app: app, cache: cache, key: key, hash: hash) { return (bucket, true) }
                bucket = (bucket + 1) & mask
            }
        }
    }

    /// Takes `slot` out of the index, shifting later entries of its probe run back so that
    /// every entry stays reachable from its home bucket without tombstones.
    private mutating func removeFromIndex(_ slot: Int) {
        let mask = buckets.count - 1
        var hole = entries[slot].id.hash & mask
        while buckets[hole] != slot { hole = (hole + 1) & mask }
        var next = (hole + 1) & mask
        while buckets[next] >= 0 {
            let home = entries[buckets[next]].id.hash & mask
            // The entry at `next` may fill the hole if its home is not in (hole, next].
            if (next &- home) & mask >= (next &- hole) & mask {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        buckets[hole] = -1
    }

    /// Doubles the index before an insert would make it more than half full.
    private mutating func growIndexIfNeeded() {
        guard (count + 1) * 2 > buckets.count else { return }
        var grown = [Int](repeating: -1, count: buckets.count * 2)
        let mask = grown.count - 1
        for slot in entries.indices where entries[slot].isLive {
            var bucket = entries[slot].id.hash & mask
            while grown[bucket] >= 0 { bucket = (bucket + 1) & mask }
            grown[bucket] = slot
        }
        buckets = grown
    }

    // MARK: Expiry heap

    /// Stale heap items (of removed entries or replaced deadlines) are normally dropped when
    /// their deadline passes; rewriting long TTLs over and over would let them pile up, so
    /// the heap is rebuilt from the live entries once it is mostly stale.
    private mutating func compactExpiriesIfMostlyStale() {
        guard expiries.count > 64, expiries.count > 2 * count else { return }
        var live: [MemoryCacheExpiryHeap.Item] = []
        for (slot, entry) in entries.enumerated() {
            if entry.isLive, let deadline = entry.deadline {
                live.append(.init(deadline: deadline, slot: slot, token: entry.expiryToken))
            }
        }
        expiries.rebuild(live)
    }
}
