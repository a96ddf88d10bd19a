import ClusterKit
import ClusterKitRedis
import Foundation

/// `redis queue end-to-end jobs/s, 32 handlers`: a publishing node (50 tasks publishing
/// 64-byte jobs) and a consuming node (one consumer, 32 no-op handlers), separate
/// `RedisMessageQueue` instances. Figure: jobs whose handler returned while the publishers
/// ran, per second of that window (the steady rate the cluster completes jobs at; a backlog
/// the consumer does not keep up with is purged afterwards). No reference: the target is
/// absolute.
///
/// The same run then measures the two halves apart, so the row's ceiling on this machine
/// is a figure of the run rather than an estimate: publishing alone (the same 50 tasks, no
/// consumer), then draining that backlog alone (the same consumer, no publisher), each
/// with the CPU it cost per job in this process and in redis-server (`INFO cpu`). Those
/// rows have no target; the ceiling row is cores × 1 s / (CPU per published + handled job,
/// client and server): what the machine's cores allow if nothing ever waited.
final class RedisQueueGroup: BenchGroup {
    static let row = "redis queue end-to-end jobs/s, 32 handlers"
    static let publishAloneRow = "redis queue publish alone, 50 tasks (no consumer)"
    static let drainAloneRow = "redis queue drain alone, 32 handlers (no publisher)"
    static let clientCPURow = "redis queue client CPU per job (publish + handle)"
    static let serverCPURow = "redis queue redis-server CPU per job (publish + handle)"
    static let switchesRow = "redis queue client context switches per job (publish + handle)"
    static let ceilingRow = "redis queue CPU ceiling: cores / CPU per job"
    static let publishingTasks = 50
    static let handlers = 32

    let rows = [
        BenchRowSpec(name: row, unit: "jobs/s", reference: nil, target: .ours(atLeast: 40_000, "jobs/s"),
                     note: "jobs handled while 50 tasks publish, per second of that window"),
        BenchRowSpec(name: publishAloneRow, unit: "jobs/s", reference: nil, target: nil,
                     note: "the same 50 publishing tasks with no consumer running"),
        BenchRowSpec(name: drainAloneRow, unit: "jobs/s", reference: nil, target: nil,
                     note: "the same consumer draining the publish-alone backlog, nothing publishing"),
        BenchRowSpec(name: clientCPURow, unit: "µs", reference: nil, target: nil,
                     note: "this process's CPU (getrusage, both nodes) per job published alone plus per job drained alone"),
        BenchRowSpec(name: serverCPURow, unit: "µs", reference: nil, target: nil,
                     note: "redis-server's CPU (INFO cpu) per job published alone plus per job drained alone"),
        BenchRowSpec(name: switchesRow, unit: "switches", reference: nil, target: nil,
                     note: "this process's voluntary + involuntary context switches (getrusage) per job, publish and drain phases"),
        BenchRowSpec(name: ceilingRow, unit: "jobs/s", reference: nil, target: nil,
                     note: "cores × 1,000,000 / (client + server µs per job): the end-to-end rate the cores allow with no idle time"),
    ]
    private let producer: RedisMessageQueue
    private let consumer: RedisMessageQueue
    private let admin: RedisClient
    private let runs = BenchCounter()

    init(url: String) async throws {
        let configuration = try RedisClientConfiguration(parsing: url)
        producer = RedisMessageQueue(client: try await RedisClient.connect(configuration),
                                     appName: "bench", nodeID: NodeID("bench-producer"))
        consumer = RedisMessageQueue(client: try await RedisClient.connect(configuration),
                                     appName: "bench", nodeID: NodeID("bench-consumer"))
        admin = try await RedisClient.connect(configuration)
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        runs.increment()
        let queue = "bench-\(runs.value)"
        let handled = BenchCounter()
        let running = try await consumer.consume(queue, options: QueueConsumerOptions(concurrency: Self.handlers)) { _ in handled.increment() }
        let before = try await RedisCostSnapshot.take(admin)
        let start = BenchClock.nanoseconds()
        _ = try await publish(to: queue, for: duration)
        let rate = Double(handled.value) / BenchClock.seconds(since: start)
        let endToEnd = try await RedisCostSnapshot.take(admin).perJob(since: before, jobs: handled.value)
        await running.stop(drainTimeout: .seconds(5))
        _ = try await producer.purge(queue)

        let (publishRate, published, publishCost) = try await publishAlone(to: queue + "-alone", for: duration)
        let (drainRate, drainCost) = try await drainAlone(queue + "-alone", jobs: published)
        _ = try await producer.purge(queue + "-alone")
        report("end-to-end, per handled job: \(endToEnd.summary)")
        report("publish alone, per job: \(publishCost.summary)")
        report("drain alone, per job: \(drainCost.summary)")

        let client = publishCost.clientMicroseconds + drainCost.clientMicroseconds
        let server = publishCost.serverMicroseconds + drainCost.serverMicroseconds
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        return [
            Self.row: BenchSample(ours: rate),
            Self.publishAloneRow: BenchSample(ours: publishRate),
            Self.drainAloneRow: BenchSample(ours: drainRate),
            Self.clientCPURow: BenchSample(ours: client),
            Self.serverCPURow: BenchSample(ours: server),
            Self.switchesRow: BenchSample(ours: publishCost.clientSwitches + drainCost.clientSwitches),
            Self.ceilingRow: BenchSample(ours: cores * 1e6 / max(client + server, 0.001)),
        ]
    }

    /// 50 tasks publishing 64-byte jobs for `duration` seconds; returns how many.
    private func publish(to queue: String, for duration: Double) async throws -> Int {
        let producer = producer
        let body = [UInt8](repeating: 0x6A, count: 64)
        return try await BenchClock.count(tasks: Self.publishingTasks, duration: duration) { _ in
            _ = try await producer.publish(queue, body, options: .init())
            return 1
        }.operations
    }

    private func publishAlone(to queue: String, for duration: Double) async throws -> (rate: Double, jobs: Int, cost: RedisJobCost) {
        let before = try await RedisCostSnapshot.take(admin)
        let start = BenchClock.nanoseconds()
        let jobs = try await publish(to: queue, for: duration)
        let rate = Double(jobs) / BenchClock.seconds(since: start)
        return (rate, jobs, try await RedisCostSnapshot.take(admin).perJob(since: before, jobs: jobs))
    }

    /// Starts the consumer on a backlog of `jobs` and times it until every job was handled.
    private func drainAlone(_ queue: String, jobs: Int) async throws -> (rate: Double, cost: RedisJobCost) {
        let handled = BenchCounter()
        let before = try await RedisCostSnapshot.take(admin)
        let start = BenchClock.nanoseconds()
        let running = try await consumer.consume(queue, options: QueueConsumerOptions(concurrency: Self.handlers)) { _ in handled.increment() }
        let outcome: Result<Void, any Error>
        do {
            try await handled.wait(for: jobs, timeout: 120, what: "queue jobs drained")
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        let rate = Double(handled.value) / BenchClock.seconds(since: start)
        let cost = try await RedisCostSnapshot.take(admin).perJob(since: before, jobs: handled.value)
        await running.stop(drainTimeout: .seconds(5))
        try outcome.get()
        return (rate, cost)
    }

    private func report(_ line: String) {
        FileHandle.standardError.write(Data("  redis queue: \(line)\n".utf8))
    }

    func close() async {
        await consumer.close()
        await producer.close()
        await admin.close()
    }
}
