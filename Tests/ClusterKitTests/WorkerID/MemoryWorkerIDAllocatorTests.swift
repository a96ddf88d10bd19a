import ClusterKit
import Logging
import Testing

@Suite("Memory worker-ID allocator")
struct MemoryWorkerIDAllocatorTests {
    let backend = MemoryBackend()
    let clock = ManualClock()

    func node(_ app: String = "app", maximumWorkerID: Int = 31, ttl: Duration = .seconds(30)) -> MemoryWorkerIDAllocator<ManualClock> {
        MemoryWorkerIDAllocator(backend: backend, appName: app, nodeID: NodeID("n-\(UInt32.random(in: 0 ... .max))"),
                                configuration: .init(maximumWorkerID: maximumWorkerID, leaseTTL: ttl), clock: clock)
    }

    @Test func defaultsAreThirtyTwoIDsAndThirtySeconds() {
        let configuration = MemoryWorkerIDAllocator<ManualClock>.Configuration()
        #expect(configuration.maximumWorkerID == 31)
        #expect(configuration.leaseTTL == .seconds(30))
        let allocator = node()
        #expect(allocator.range == 0...31)
        #expect(allocator.leaseTTL == .seconds(30))
    }

    @Test func leasesTheLowestFreeIDFirst() async throws {
        let (a, b) = (node(), node())
        #expect(try await a.lease().workerID == 0)
        let one = try await b.lease()
        #expect(one.workerID == 1)
        #expect(try await a.lease().workerID == 2)
        try await b.release(one)
        #expect(try await a.lease().workerID == 1)
    }

    @Test func aLeaseExpiresExactlyAtItsTTL() async throws {
        let (a, b) = (node(), node())
        let held = try await a.lease()
        clock.advance(by: .seconds(30) - .nanoseconds(1))
        let other = try await b.lease()
        #expect(other.workerID == 1, "the lease on 0 is still live one nanosecond before its TTL")
        clock.advance(by: .nanoseconds(1))
        #expect(try await b.lease().workerID == held.workerID, "an expired lease is free")
        #expect(try await a.renew(held) == false)
    }

    @Test func renewalExtendsFromTheTimeOfRenewal() async throws {
        let (a, b) = (node(), node())
        let held = try await a.lease()
        clock.advance(by: .seconds(20))
        #expect(try await a.renew(held))
        clock.advance(by: .seconds(29))
        #expect(try await b.lease().workerID == 1, "renewed at 20 s, the lease lives until 50 s")
        clock.advance(by: .seconds(1))
        #expect(try await b.lease().workerID == 0, "at 50 s the renewed lease has expired")
    }

    @Test func renewingAnExpiredLeaseFailsAndDoesNotReviveIt() async throws {
        let (a, b) = (node(), node())
        let held = try await a.lease()
        clock.advance(by: .seconds(31))
        #expect(try await a.renew(held) == false)
        #expect(try await b.lease().workerID == held.workerID)
    }

    @Test func renewingWithAnotherTokenFails() async throws {
        let a = node()
        let held = try await a.lease()
        #expect(try await a.renew(WorkerIDLeaseToken(workerID: held.workerID, token: "forged")) == false)
        #expect(try await a.renew(WorkerIDLeaseToken(workerID: 7, token: held.token)) == false)
        #expect(try await a.renew(held))
    }

    @Test func releaseOnlyFreesTheHoldersLease() async throws {
        let (a, b, c) = (node(), node(), node())
        let held = try await a.lease()
        clock.advance(by: .seconds(31))
        let taken = try await b.lease()
        #expect(taken.workerID == held.workerID)
        try await a.release(held)
        try await a.release(held)
        #expect(try await b.renew(taken))
        #expect(try await c.lease().workerID == 1)
        try await b.release(taken)
        #expect(try await c.lease().workerID == 0)
    }

    @Test func exhaustionNamesTheRangeAndTheLiveLeases() async throws {
        let (a, b) = (node(maximumWorkerID: 1), node(maximumWorkerID: 1))
        #expect(try await a.lease().workerID == 0)
        clock.advance(by: .seconds(15))
        #expect(try await b.lease().workerID == 1)
        let error = await #expect(throws: WorkerIDError.self) { try await a.lease() }
        #expect(error?.code == .exhausted)
        #expect(error?.message == "no free worker ID in 0...1: 2 live leases (raise WORKER_ID_MAX or stop a node)")
        clock.advance(by: .seconds(15))
        #expect(try await a.lease().workerID == 0, "the first lease expired at 30 s")
        await #expect(throws: WorkerIDError.exhausted(range: 0...1, liveLeases: 2)) { try await b.lease() }
    }

    @Test func maximumWorkerIDZeroGivesOneID() async throws {
        let a = node(maximumWorkerID: 0)
        #expect(a.range == 0...0)
        #expect(try await a.lease().workerID == 0)
        await #expect(throws: WorkerIDError.exhausted(range: 0...0, liveLeases: 1)) { try await a.lease() }
    }

    @Test func appsAndBackendsHaveSeparatePools() async throws {
        let other = MemoryWorkerIDAllocator(backend: MemoryBackend(), appName: "app", configuration: .init(), clock: clock)
        #expect(try await node("app").lease().workerID == 0)
        #expect(try await node("blog").lease().workerID == 0)
        #expect(try await other.lease().workerID == 0)
        #expect(try await node("app").lease().workerID == 1)
    }

    @Test func closedNodesRefuseWhileOthersGoOn() async throws {
        let (a, b) = (node(), node())
        let held = try await a.lease()
        await a.close()
        await a.close()
        await #expect(throws: WorkerIDError.closed) { try await a.lease() }
        await #expect(throws: WorkerIDError.closed) { try await a.renew(held) }
        await #expect(throws: WorkerIDError.closed) { try await a.release(held) }
        #expect(try await b.lease().workerID == 1, "close does not release: the lease expires after its TTL")
        clock.advance(by: .seconds(30))
        #expect(try await b.lease().workerID == 0)
    }

    @Test func theRegistryBuildsItFromConfiguration() async throws {
        var registry = AdapterRegistry()
        registry.registerMemoryWorkerID()
        #expect(registry.names(for: .workerID) == ["memory"])
        #expect(try registry.registration(for: .workerID, named: "memory", variable: "WORKER_ID_ADAPTER").isNetworked == false)
        let configuration = try ClusterConfiguration(values: ["APP_NAME": "shop", "WORKER_ID_MAX": "3", "WORKER_ID_LEASE_TTL_MS": "1500"])
        func context(_ node: String) -> AdapterContext {
            AdapterContext(primitive: .workerID, adapterName: "memory", nodeID: NodeID(node), configuration: configuration,
                           url: nil, memory: backend, logger: Logger(label: "test"))
        }
        let a = try await registry.makeWorkerIDAllocator(context("n1"))
        let b = try await registry.makeWorkerIDAllocator(context("n2"))
        #expect(a.range == 0...3)
        #expect(a.leaseTTL == .milliseconds(1500))
        #expect(try await a.lease().workerID == 0)
        #expect(try await b.lease().workerID == 1, "nodes built from one backend and app share the pool")
    }
}
