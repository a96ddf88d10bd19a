import ClusterKit
import Foundation

/// The demo's result: the invariants, computed from every node's report.
struct DemoSummary: Codable {
    struct Adapters: Codable {
        var cache: String
        var pubsub: String
        var queue: String
        var lock: String
        var workerId: String
    }

    var nodes: Int
    var mode: String
    var adapters: Adapters
    var workerIds: [Int?]
    var duplicateWorkerIds: Int
    var snowflakeIds: Int
    var duplicateSnowflakeIds: Int
    var jobsPublished: Int
    var jobsProcessed: Int
    var duplicateJobs: Int
    var lostJobs: Int
    var lockCounter: Int
    var expectedLockCounter: Int
    var signalsSent: Int
    var signalsReceived: Int
    var expectedSignalsReceived: Int
    var seconds: Double
    var ok: Bool

    init(plan: DemoPlan, mode: String, adapters: [Primitive: ResolvedAdapter], reports: [DemoNodeReport], seconds: Double) {
        nodes = plan.nodes
        self.mode = mode
        self.adapters = Adapters(cache: adapters[.cache]?.name ?? "?", pubsub: adapters[.pubsub]?.name ?? "?",
                                 queue: adapters[.queue]?.name ?? "?", lock: adapters[.lock]?.name ?? "?",
                                 workerId: adapters[.workerID]?.name ?? "?")
        let sorted = reports.sorted { $0.index < $1.index }
        workerIds = sorted.map(\.workerID)
        let heldIDs = workerIds.compactMap { $0 }
        duplicateWorkerIds = heldIDs.count - Set(heldIDs).count + (workerIds.count - heldIDs.count)
        let allIDs = sorted.flatMap(\.snowflakeIDs)
        snowflakeIds = allIDs.count
        duplicateSnowflakeIds = allIDs.count - Set(allIDs).count
        jobsPublished = plan.jobs
        let runs = sorted.flatMap(\.processedJobs)
        let published = Set((0..<plan.jobs).map { "job-\($0)" })
        let processed = Set(runs).intersection(published)
        jobsProcessed = processed.count
        duplicateJobs = runs.count - Set(runs).count
        lostJobs = published.count - processed.count
        lockCounter = sorted.first?.counter ?? 0
        expectedLockCounter = runs.count
        signalsSent = sorted.map(\.signalsSent).reduce(0, +)
        signalsReceived = sorted.map(\.signalsReceived).reduce(0, +)
        expectedSignalsReceived = signalsSent * plan.nodes
        self.seconds = (seconds * 1000).rounded() / 1000
        ok = duplicateWorkerIds == 0 && duplicateSnowflakeIds == 0 && jobsProcessed == jobsPublished && duplicateJobs == 0
            && lostJobs == 0 && lockCounter == expectedLockCounter && signalsReceived == expectedSignalsReceived
    }

    var isClean: Bool { ok }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        func mark(_ good: Bool) -> String { good ? "ok" : "FAILED" }
        let ids = workerIds.map { $0.map(String.init) ?? "none" }.joined(separator: ", ")
        return """
            ClusterKit demo: \(nodes) nodes, \(mode)
            adapters      cache=\(adapters.cache) pubsub=\(adapters.pubsub) queue=\(adapters.queue) lock=\(adapters.lock) workerId=\(adapters.workerId)
            worker IDs    \(ids)  [\(mark(duplicateWorkerIds == 0))]
            snowflake IDs \(snowflakeIds) issued, \(duplicateSnowflakeIds) duplicates  [\(mark(duplicateSnowflakeIds == 0))]
            jobs          \(jobsPublished) published, \(jobsProcessed) processed, \(duplicateJobs) duplicates, \(lostJobs) lost  [\(mark(jobsProcessed == jobsPublished && duplicateJobs == 0 && lostJobs == 0))]
            lock counter  \(lockCounter) (expected \(expectedLockCounter))  [\(mark(lockCounter == expectedLockCounter))]
            signals       \(signalsSent) sent, \(signalsReceived) received (expected \(expectedSignalsReceived))  [\(mark(signalsReceived == expectedSignalsReceived))]
            result        \(ok ? "OK" : "FAILED") in \(seconds) s
            """
    }
}
