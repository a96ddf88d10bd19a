import ClusterKit

/// What one demo run does, shared by every node. Names carry the run ID so runs against a
/// shared Redis never see each other's jobs, signals or counter.
struct DemoPlan: Codable, Sendable {
    var runID: String
    var nodes: Int
    var jobs: Int
    var idsPerNode: Int
    var handlerConcurrency: Int

    var queue: String { "demo-jobs-\(runID)" }
    var channel: String { "demo-signals-\(runID)" }
    var cacheName: String { "demo" }
    var counterKey: String { "counter-\(runID)" }
    var lockKey: String { "demo-counter-\(runID)" }
    /// A node publishes one signal per this many jobs it processed.
    static let jobsPerSignal = 100
}

/// The coordinator's commands to a node, one per line as JSON (multi-process) or direct
/// calls (in-process).
enum DemoInstruction: Codable, Sendable {
    case start(plan: DemoPlan, index: Int)
    case consume
    case publish(count: Int)
    case progress
    case stop
    case awaitSignals(expected: Int, timeoutSeconds: Double)
    case report
    case shutdown
}

/// A node's answer to one command.
enum DemoReply: Codable, Sendable {
    case ready(workerID: Int?)
    case done
    case progress(processed: Int)
    case stopped(signalsSent: Int)
    case signals(received: Int)
    case report(DemoNodeReport)
    case failed(message: String)
}

/// What a node observed, for the coordinator to check the cluster's invariants.
struct DemoNodeReport: Codable, Sendable {
    var index: Int
    var nodeID: String
    var workerID: Int?
    var snowflakeIDs: [Int64]
    /// One entry per completed handler run (a job processed twice appears twice).
    var processedJobs: [String]
    var signalsSent: Int
    var signalsReceived: Int
    /// The shared counter as this node read it at the end.
    var counter: Int
}
