@testable import HummingbirdCluster
import Testing

@Suite struct LocalItemCacheTests {
    private func item(_ id: String, _ name: String) -> Item {
        Item(id: id, name: name, updatedBy: "test", updatedAtMilliseconds: 0)
    }

    @Test func storedItemIsAHit() throws {
        let cache = LocalItemCache()
        guard case .miss(let fill) = cache.find("a") else { Issue.record("empty cache hit"); return }
        cache.store(item("a", "one"), for: fill)
        guard case .hit(let found) = cache.find("a") else { Issue.record("stored item missed"); return }
        #expect(found.name == "one")
        #expect(cache.stats.hits == 1 && cache.stats.misses == 1)
    }

    @Test func fillThatStartedBeforeAnInvalidationStoresNothing() {
        let cache = LocalItemCache()
        guard case .miss(let staleFill) = cache.find("a") else { Issue.record("empty cache hit"); return }
        cache.invalidate("a")                       // a write lands while the read is in flight
        cache.store(item("a", "old"), for: staleFill)
        guard case .miss = cache.find("a") else {
            Issue.record("a value fetched before the invalidation was kept")
            return
        }
    }

    @Test func invalidationDropsTheEntry() {
        let cache = LocalItemCache()
        guard case .miss(let fill) = cache.find("a") else { return }
        cache.store(item("a", "one"), for: fill)
        cache.invalidate("a")
        guard case .miss = cache.find("a") else { Issue.record("invalidated entry still served"); return }
        #expect(cache.stats.invalidations == 1)
    }

    @Test func capacityIsNeverExceeded() {
        let cache = LocalItemCache(capacity: 3)
        for index in 0..<10 {
            guard case .miss(let fill) = cache.find("k\(index)") else { continue }
            cache.store(item("k\(index)", "v"), for: fill)
        }
        #expect(cache.stats.entries == 3)
    }

    @Test func entriesOlderThanTheMaximumAgeAreMisses() async throws {
        let cache = LocalItemCache(maximumAge: .milliseconds(20))
        guard case .miss(let fill) = cache.find("a") else { return }
        cache.store(item("a", "one"), for: fill)
        try await Task.sleep(for: .milliseconds(60))
        guard case .miss = cache.find("a") else { Issue.record("expired entry served"); return }
    }
}
