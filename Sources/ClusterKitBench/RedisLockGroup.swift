import ClusterKit
import ClusterKitRedis

/// `redis lock acquire+release, uncontended, 50 tasks`: each task its own key, so nothing
/// waits; one operation = one acquire plus its release. Reference: `redis-benchmark -c 50
/// -t set` (a lock round trip is a script doing a SET NX PX and a fencing INCR).
final class RedisLockGroup: BenchGroup {
    static let row = "redis lock acquire+release, uncontended, 50 tasks"
    let rows = [BenchRowSpec(name: row, unit: "pairs/s", reference: "redis-benchmark -c 50 -t set", target: .ratio(atLeast: 0.45))]
    private let lock: RedisLock
    private let tool: RedisBenchmarkTool?

    init(url: String, tool: RedisBenchmarkTool?) async throws {
        lock = RedisLock(client: try await RedisClient.connect(try RedisClientConfiguration(parsing: url)), appName: "bench")
        self.tool = tool
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        let lock = lock
        let ours = try await BenchClock.rate(tasks: 50, duration: duration) { task in
            let lease = try await lock.acquire("bench-\(task)", ttl: .seconds(30), timeout: .seconds(5))
            guard try await lock.release(lease) else { throw BenchError("release of an uncontended lock returned false") }
            return 1
        }
        let reference = try await tool?.rate(["-c", "50", "-t", "set"], duration: duration)
        return [Self.row: BenchSample(ours: ours, reference: reference)]
    }

    func close() async { await lock.close() }
}
