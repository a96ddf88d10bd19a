import ClusterKit
import Synchronization

/// Reads and writes items through three tiers, the way a cluster-mode app caches:
///
/// 1. ``LocalItemCache`` — this instance's memory, no network;
/// 2. the cluster's shared cache `items` (Redis with `CACHE_DEFAULT_STORE=redis`), 60 s TTL,
///    filled single-flight on a miss;
/// 3. the store of record, cache `items-db` without TTL — a stand-in for the app's real
///    database, kept in the cluster's cache store so the example needs nothing but Redis.
///
/// A write goes to the store of record, deletes the shared copy, drops the local copy and
/// publishes the item ID on ``channel`` (skipping this instance, which already dropped its
/// copy); every other instance's ``InvalidationListener`` drops its local copy on receipt.
///
/// Consistency: readers on other instances see the new value once the signal arrived
/// (milliseconds on a healthy cluster). A read racing a write on another instance can put
/// the old value back into the shared cache after the write deleted it (classic cache-aside);
/// the 60 s TTL bounds that.
struct ItemService: Sendable {
    /// The pub/sub channel that carries the IDs of changed items.
    static let channel = "items.changed"
    /// How long the shared cache keeps an item.
    static let sharedTTL: Duration = .seconds(60)

    /// Where a read was served from.
    enum Source: String, Codable, Sendable {
        case local, shared, database
    }

    let cluster: Cluster
    let local: LocalItemCache
    private let shared: Cache
    private let database: Cache

    init(cluster: Cluster, local: LocalItemCache) throws {
        self.cluster = cluster
        self.local = local
        self.shared = try cluster.cache("items")
        self.database = try cluster.cache("items-db")
    }

    /// The item, and the tier that served it; `nil` when it does not exist.
    func read(_ id: String) async throws -> (item: Item, source: Source)? {
        let fill: LocalItemCache.Fill
        switch local.find(id) {
        case .hit(let item): return (item, .local)
        case .miss(let ticket): fill = ticket
        }
        let loadedFromDatabase = Mutex(false)
        let database = self.database
        let item: Item
        do {
            item = try await shared.wrap(id, ttl: Self.sharedTTL, as: Item.self) {
                loadedFromDatabase.withLock { $0 = true }
                guard let item = try await database.get(id, as: Item.self) else { throw ItemNotFound() }
                return item
            }
        } catch is ItemNotFound {
            return nil
        }
        local.store(item, for: fill)
        return (item, loadedFromDatabase.withLock { $0 } ? .database : .shared)
    }

    /// Writes `name` as the item's new version and tells every instance to drop its copy.
    func write(_ id: String, name: String) async throws -> Item {
        let item = Item(id: id, name: name, updatedBy: cluster.nodeID.rawValue,
                        updatedAtMilliseconds: SnowflakeGenerator.systemMilliseconds())
        try await database.set(id, item)
        try await shared.delete(id)
        local.invalidate(id)
        try await cluster.pubsub.publish(Self.channel, id, options: .init(skipSelf: true))
        return item
    }
}

/// A miss in the store of record, carried out of `Cache.wrap` so nothing is cached.
private struct ItemNotFound: Error {}
