import ClusterKit
import ClusterKitConformance
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Testing

/// Conformance targets whose nodes are independent clients (own connections) to the
/// shared harness server.
enum RedisTargets {
    static func cache() -> ConformanceTarget<any CacheStore> {
        ConformanceTarget(label: "redis") { options in
            RedisCacheStore(client: try await makeClient(), appName: options.appName)
        }
    }

    static func lock() -> ConformanceTarget<any DistributedLock> {
        ConformanceTarget(label: "redis") { options in
            RedisLock(client: try await makeClient(), appName: options.appName, nodeID: options.nodeID)
        }
    }

    /// Lease TTL 1 s: the worker-ID suite needs at most 2 s.
    static func workerID(maximumWorkerID: Int = 31) -> ConformanceTarget<any WorkerIDAllocator> {
        ConformanceTarget(label: "redis") { options in
            let url = try await RedisServer.shared().url(query: "pool_size=1")
            return RedisWorkerIDAllocator(client: try await makeClient(url), appName: options.appName, nodeID: options.nodeID,
                                          configuration: .init(maximumWorkerID: maximumWorkerID, leaseTTL: .seconds(1)))
        }
    }
}

/// Records an issue with the case's own message unless it passed.
func expectPassed(_ result: ConformanceResult, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == .passed, "\(result.line)", sourceLocation: sourceLocation)
}

@Suite("Redis cache conformance", .serialized)
struct RedisCacheConformanceTests {
    @Test(arguments: CacheConformance.suite.cases.filter { $0.capability == nil }.map(\.name))
    func redisCachePasses(_ caseName: String) async {
        expectPassed(await CacheConformance.suite.run(caseNamed: caseName, against: RedisTargets.cache()))
    }
}

@Suite("Redis lock conformance", .serialized)
struct RedisLockConformanceTests {
    @Test(arguments: LockConformance.suite.caseNames)
    func redisLockPasses(_ caseName: String) async {
        expectPassed(await LockConformance.suite.run(caseNamed: caseName, against: RedisTargets.lock()))
    }
}

@Suite("Redis worker-ID conformance", .serialized)
struct RedisWorkerIDConformanceTests {
    @Test(arguments: WorkerIDConformance.suite.caseNames)
    func redisWorkerIDPasses(_ caseName: String) async {
        expectPassed(await WorkerIDConformance.suite.run(caseNamed: caseName, against: RedisTargets.workerID()))
    }
}
