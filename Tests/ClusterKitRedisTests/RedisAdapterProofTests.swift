import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Testing

/// Issue 3's proofs beyond the conformance suites.
@Suite("Redis adapters: faults and guarantees", .serialized)
struct RedisAdapterProofTests {
    @Test func cacheOperationsSurviveSIGKILLAndRestart() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        defer { Task { await server.stop() } }
        let store = RedisCacheStore(client: try await makeClient(server.url(query: "command_timeout=1s")), appName: "proof")
        defer { Task { await store.close() } }
        let cache: CacheName = "survivor"
        try await store.set(cache, "before", Array("kept".utf8), ttl: nil)
        let stream = Task {
            var unexpected: [String] = []
            var successes = 0
            for round in 0..<300 {
                do {
                    try await store.set(cache, "k\(round % 10)", Array("v\(round)".utf8), ttl: .seconds(60))
                    _ = try await store.get(cache, "k\(round % 10)")
                    successes += 1
                } catch {
                    if (error as? CacheError)?.code != .backend { unexpected.append("\(error)") }
                }
                if round % 10 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            }
            return (successes, unexpected)
        }
        try await Task.sleep(for: .milliseconds(40))
        try await server.kill()
        try await Task.sleep(for: .milliseconds(100))
        try await server.restart()
        let (successes, unexpected) = await stream.value
        #expect(unexpected.isEmpty, "errors other than CacheError.backend: \(unexpected)")
        #expect(successes > 0)
        // The store recovers by itself; the acknowledged write survived (AOF, fsync always).
        let value = try await eventuallySucceeds { try await store.get(cache, "before") }
        #expect(value == Array("kept".utf8))
        // Every pooled connection recovers on its own schedule (a connection still in its
        // reconnect backoff fails fast), so a later write also gets the bounded retry.
        try await eventuallySucceeds { try await store.set(cache, "after", [1, 2, 3], ttl: nil) }
        #expect(try await eventuallySucceeds { try await store.get(cache, "after") } == [1, 2, 3])
    }

    @Test func aFrozenLockHolderIsFencedOff() async throws {
        let appName = uniquePrefix("fencing").replacingOccurrences(of: ":", with: "")
        let nodeA = RedisLock(client: try await makeClient(), appName: appName)
        let nodeB = RedisLock(client: try await makeClient(), appName: appName)
        defer { Task { await nodeA.close(); await nodeB.close() } }
        let resource = FencedResource()
        let ttl: Duration = .milliseconds(300)
        // A takes the lock and writes, then "freezes": no renewal while its TTL runs out.
        let leaseA = try #require(try await nodeA.tryAcquire("account-7", ttl: ttl))
        #expect(await resource.write("A1", fencingToken: leaseA.fencingToken))
        try await Task.sleep(for: ttl + .milliseconds(150))
        // B takes the expired lock and writes with a larger token.
        let leaseB = try await nodeB.acquire("account-7", ttl: .seconds(5), timeout: .seconds(2))
        #expect(leaseB.fencingToken > leaseA.fencingToken)
        #expect(await resource.write("B1", fencingToken: leaseB.fencingToken))
        // A wakes up, still believing it holds the lock: its stale token is rejected.
        #expect(await resource.write("A2", fencingToken: leaseA.fencingToken) == false)
        #expect(await resource.value == "B1")
        #expect(try await nodeA.extend(leaseA, ttl: ttl) == false, "the frozen holder cannot extend B's lock")
        #expect(try await nodeA.release(leaseA) == false, "the frozen holder cannot release B's lock")
        #expect(try await nodeB.release(leaseB))
    }

    @Test func oneMoreNodeThanWorkerIDsGetsExactlyOneExhaustionError() async throws {
        let appName = uniquePrefix("exhaust").replacingOccurrences(of: ":", with: "")
        let url = try await RedisServer.shared().url(query: "pool_size=1")
        let maximum = 31
        var nodes: [RedisWorkerIDAllocator] = []
        for _ in 0...(maximum + 1) {
            nodes.append(RedisWorkerIDAllocator(client: try await makeClient(url), appName: appName,
                                                configuration: .init(maximumWorkerID: maximum, leaseTTL: .seconds(10))))
        }
        let outcomes = await withTaskGroup(of: Result<Int, WorkerIDError>.self) { group in
            for node in nodes {
                group.addTask {
                    do { return .success(try await node.lease().workerID) } catch let error as WorkerIDError { return .failure(error) } catch {
                        return .failure(WorkerIDError(code: .backend, message: "\(error)"))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let ids = outcomes.compactMap { try? $0.get() }
        let errors = outcomes.compactMap { if case .failure(let error) = $0 { error } else { nil } }
        #expect(Set(ids) == Set(0...maximum), "every ID leased exactly once")
        #expect(ids.count == maximum + 1)
        #expect(errors.count == 1)
        #expect(errors.first?.code == .exhausted, "\(errors)")
        #expect(errors.first?.message.contains("0...\(maximum)") == true)
        for node in nodes { await node.close() }
        // Clean up the leases (they would expire after 10 s anyway).
        let client = try await makeClient()
        try await client.send(RedisCommand("DEL", arguments: (0...maximum).map { "\(appName):workerid:\($0)" }))
        await client.close()
    }

    @Test func keysLandInTheDatabaseAndNamespaceTheVariablesName() async throws {
        let server = try await RedisServer.shared()
        let appName = uniquePrefix("dbs").replacingOccurrences(of: ":", with: "")
        let configuration = try ClusterConfiguration(values: [
            "APP_NAME": appName,
            "CACHE_DEFAULT_STORE": "redis", "LOCK_ADAPTER_DEFAULT": "redis", "WORKER_ID_ADAPTER": "redis",
            "REDIS_URL": server.url(database: 3),
            "CACHE_REDIS_URL": server.url(database: 5),
        ])
        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        func context(_ primitive: Primitive) throws -> AdapterContext {
            let resolved = try configuration.resolve(primitive, in: registry)
            return AdapterContext(primitive: primitive, adapterName: resolved.selectedName, nodeID: NodeID("db-test"),
                                  configuration: configuration, url: resolved.url, memory: MemoryBackend(),
                                  logger: .init(label: "test"))
        }
        let cache = try await registry.makeCache(context(.cache))
        let lock = try await registry.makeLock(context(.lock))
        defer { Task { await cache.close(); await lock.close() } }
        try await cache.set("settings", "theme", Array("dark".utf8), ttl: nil)
        let lease = try #require(try await lock.tryAcquire("job", ttl: .seconds(30)))
        let db5 = try await makeClient(server.url(database: 5))
        let db3 = try await makeClient(server.url(database: 3))
        defer { Task { await db5.close(); await db3.close() } }
        let cacheKey = "\(appName):cache:settings:theme"
        let lockKey = "\(appName):lock:job"
        #expect(try await db5.send(RedisCommand("GET", cacheKey)).bytes() == Array("dark".utf8), "cache keys go to CACHE_REDIS_URL's db 5")
        #expect(try await db3.send(RedisCommand("EXISTS", cacheKey)).integer() == 0, "not to REDIS_URL's db 3")
        #expect(try await db3.send(RedisCommand("GET", lockKey)).bytes() == Array(lease.ownerToken.utf8), "lock keys fall back to REDIS_URL's db 3")
        #expect(try await db5.send(RedisCommand("EXISTS", lockKey)).integer() == 0)
        try await lock.release(lease)
        try await cache.clear("settings")
        #expect(try await db5.send(RedisCommand("EXISTS", cacheKey)).integer() == 0)
    }
}

/// A resource guarded by fencing tokens: it remembers the largest token it has seen and
/// rejects writes carrying a smaller one.
actor FencedResource {
    private(set) var value = ""
    private var highestToken: UInt64 = 0

    func write(_ newValue: String, fencingToken: UInt64) -> Bool {
        guard fencingToken >= highestToken else { return false }
        highestToken = fencingToken
        value = newValue
        return true
    }
}
