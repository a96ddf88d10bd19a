/// The namespace of one named cache of one app: `APP_NAME` + cache name. Entries of
/// different namespaces never meet, whatever their keys look like.
struct MemoryCacheNamespace: Hashable, Sendable {
    let app: String
    let cache: String
}

/// The entries of one memory cache "server": every node built from one ``MemoryBackend``
/// shares one table (behind a mutex, see ``MemoryCacheStore``).
///
/// - Keys are compared as UTF-8 bytes, like Redis does, so canonically equivalent but
///   differently encoded strings ("é" vs "e" + U+0301) are different keys, exactly as they
///   are in Redis (Swift's `String ==` would merge them).
/// - Recency is a doubly linked list threaded through the slots (newest first), so marking
///   an entry used and evicting the least recently used one are O(1).
/// - Deadlines sit in a min-heap; ``removeExpired(now:)`` drops every expired entry in
///   deadline order, so expired entries never count against the cap and never push out
///   live ones.
///
/// The table does no locking and knows nothing about TTL policy (zero TTL, fixed windows):
/// ``MemoryCacheStore`` composes these primitives inside one critical section per operation.
struct MemoryCacheTable<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    private struct Entry: Sendable {
        let namespace: MemoryCacheNamespace
        let key: [UInt8]
        var value: [UInt8]
        var deadline: Instant?
        /// Identifies the heap item that currently stands for `deadline`.
        var expiryToken: UInt64
        /// Neighbours in the recency list; -1 = none.
        var newer: Int
        var older: Int
    }

    private var slots: [Entry?] = []
    private var freeSlots: [Int] = []
    private var index: [MemoryCacheNamespace: [[UInt8]: Int]] = [:]
    private var newest = -1
    private var oldest = -1
    private var expiries = MemoryCacheExpiryHeap<Instant>()
    private var nextToken: UInt64 = 0

    /// The number of entries held (after ``removeExpired(now:)``, all of them live).
    private(set) var count = 0

    init() {}

    // MARK: Housekeeping

    /// Removes every entry whose deadline is at or before `now`. Run at the start of every
    /// operation.
    mutating func removeExpired(now: Instant) {
        while let first = expiries.first, first.deadline <= now {
            expiries.removeFirst()
            if let entry = slots[first.slot], entry.expiryToken == first.token {
                remove(slot: first.slot)
            }
        }
    }

    /// Evicts least recently used entries until at most `capacity` remain.
    mutating func evict(toCapacity capacity: Int) {
        while count > max(0, capacity), oldest >= 0 {
            remove(slot: oldest)
        }
    }

    // MARK: Lookup

    /// The slot of the live entry at `key`, or `nil`. An entry found expired is removed.
    mutating func lookup(_ namespace: MemoryCacheNamespace, _ key: [UInt8], now: Instant) -> Int? {
        guard let slot = index[namespace]?[key], let entry = slots[slot] else { return nil }
        if let deadline = entry.deadline, deadline <= now {
            remove(slot: slot)
            return nil
        }
        return slot
    }

    func value(at slot: Int) -> [UInt8] { slots[slot]!.value }

    func deadline(at slot: Int) -> Instant? { slots[slot]!.deadline }

    // MARK: Changing entries

    /// Stores a new entry (the key must not be present) as the most recently used one, then
    /// evicts down to `capacity`. The new entry itself is never evicted (capacity ≥ 1).
    mutating func insert(_ namespace: MemoryCacheNamespace, _ key: [UInt8], value: [UInt8], deadline: Instant?, capacity: Int) {
        let entry = Entry(namespace: namespace, key: key, value: value, deadline: nil, expiryToken: 0, newer: -1, older: -1)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = entry
        } else {
            slot = slots.count
            slots.append(entry)
        }
        index[namespace, default: [:]][key] = slot
        count += 1
        linkAsNewest(slot)
        setDeadline(at: slot, deadline)
        evict(toCapacity: max(1, capacity))
    }

    /// Replaces the value, keeping the deadline.
    mutating func replaceValue(at slot: Int, _ value: [UInt8]) {
        slots[slot]!.value = value
    }

    /// Replaces the deadline (`nil` = never expires).
    mutating func setDeadline(at slot: Int, _ deadline: Instant?) {
        nextToken &+= 1
        slots[slot]!.deadline = deadline
        slots[slot]!.expiryToken = nextToken
        guard let deadline else { return }
        expiries.insert(.init(deadline: deadline, slot: slot, token: nextToken))
        compactExpiriesIfMostlyStale()
    }

    /// Moves the entry to the most recently used end.
    mutating func markUsed(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    mutating func remove(slot: Int) {
        guard let entry = slots[slot] else { return }
        unlink(slot)
        index[entry.namespace]?[entry.key] = nil
        if index[entry.namespace]?.isEmpty == true { index[entry.namespace] = nil }
        slots[slot] = nil
        freeSlots.append(slot)
        count -= 1
    }

    /// Removes every entry of `namespace` and nothing else.
    mutating func removeAll(in namespace: MemoryCacheNamespace) {
        guard let keys = index[namespace] else { return }
        for slot in keys.values { remove(slot: slot) }
    }

    // MARK: Internals

    private mutating func linkAsNewest(_ slot: Int) {
        slots[slot]!.older = newest
        slots[slot]!.newer = -1
        if newest >= 0 { slots[newest]!.newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let entry = slots[slot]!
        if entry.newer >= 0 { slots[entry.newer]!.older = entry.older } else { newest = entry.older }
        if entry.older >= 0 { slots[entry.older]!.newer = entry.newer } else { oldest = entry.newer }
        slots[slot]!.newer = -1
        slots[slot]!.older = -1
    }

    /// Stale heap items (of removed entries or replaced deadlines) are normally dropped when
    /// their deadline passes; rewriting long TTLs over and over would let them pile up, so
    /// the heap is rebuilt from the live entries once it is mostly stale.
    private mutating func compactExpiriesIfMostlyStale() {
        guard expiries.count > 64, expiries.count > 2 * count else { return }
        var live: [MemoryCacheExpiryHeap<Instant>.Item] = []
        for (slot, entry) in slots.enumerated() {
            if let entry, let deadline = entry.deadline {
                live.append(.init(deadline: deadline, slot: slot, token: entry.expiryToken))
            }
        }
        expiries.rebuild(live)
    }
}
