import Synchronization

/// This instance's own copy of recently read items, in front of the cluster's shared cache.
///
/// ## Semantics
/// - An entry leaves when this instance writes the item, when an `items.changed` signal from
///   another instance names it (see ``InvalidationListener``), when it is older than
///   ``maximumAge`` (a safety net that bounds staleness should a signal ever be missed), or
///   when the cache is full (an arbitrary entry is evicted to make room).
/// - A read that misses gets a ``Fill`` ticket holding the cache's invalidation count; its
///   result is stored only if no invalidation happened in between. Otherwise a read that fetched the old value just
///   before an invalidation could store it just after, and keep serving it.
final class LocalItemCache: Sendable {
    /// Counters shown by `GET /stats`.
    struct Stats: Codable, Sendable {
        var entries: Int
        var hits: Int
        var misses: Int
        /// Entries dropped by invalidations (local writes and signals).
        var invalidations: Int
    }

    /// A miss: what to hand back to ``store(_:for:)``.
    struct Fill: Sendable {
        fileprivate let generation: UInt64
    }

    /// What ``find(_:)`` found.
    enum Lookup: Sendable {
        case hit(Item)
        case miss(Fill)
    }

    private struct Entry {
        var item: Item
        var storedAt: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Incremented by every invalidation.
        var generation: UInt64 = 0
        var hits = 0
        var misses = 0
        var invalidations = 0
    }

    let capacity: Int
    let maximumAge: Duration
    private let clock = ContinuousClock()
    private let state = Mutex(State())

    init(capacity: Int = 10_000, maximumAge: Duration = .seconds(300)) {
        self.capacity = max(1, capacity)
        self.maximumAge = maximumAge
    }

    /// The cached item, or on a miss the ticket for storing what the caller fetches.
    func find(_ id: String) -> Lookup {
        let now = clock.now
        return state.withLock { state in
            if let entry = state.entries[id] {
                if now - entry.storedAt < maximumAge {
                    state.hits += 1
                    return .hit(entry.item)
                }
                state.entries[id] = nil
            }
            state.misses += 1
            return .miss(Fill(generation: state.generation))
        }
    }

    /// Stores `item` unless an invalidation happened since `fill` was handed out.
    func store(_ item: Item, for fill: Fill) {
        let now = clock.now
        state.withLock { state in
            guard state.generation == fill.generation else { return }
            if state.entries[item.id] == nil, state.entries.count >= capacity {
                state.entries.remove(at: state.entries.startIndex)
            }
            state.entries[item.id] = Entry(item: item, storedAt: now)
        }
    }

    /// Drops `id` and makes every fill that started before now store nothing.
    func invalidate(_ id: String) {
        state.withLock { state in
            state.generation &+= 1
            if state.entries.removeValue(forKey: id) != nil { state.invalidations += 1 }
        }
    }

    var stats: Stats {
        state.withLock { Stats(entries: $0.entries.count, hits: $0.hits, misses: $0.misses, invalidations: $0.invalidations) }
    }
}
