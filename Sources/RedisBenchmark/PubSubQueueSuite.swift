// `--suite pubsub-queue`: pub/sub fan-out and queue end-to-end figures next to raw
// `redis-benchmark … XADD` figures, all against one private redis-server in one run
// (see docs/benchmarks.md, "Redis pub/sub and queue").
import ClusterKitRedisTesting
import Foundation

/// With `includeQueue` false (`--suite pubsub`) only the pub/sub runs; with `options.url`
/// they use that server and the raw `redis-benchmark` runs are left out (for profiling
/// under valgrind, which cannot follow the process spawning a server).
func runPubSubQueueSuite(_ options: Options, includeQueue: Bool = true) async throws {
    let server = options.url == nil ? try await RedisServer.start() : nil
    let url = options.url ?? server!.url()
    let messages = options.messages
    let jobs = options.jobs
    let pubsub = try await PubSubBench(url: url, messages: max(messages, 2_000))
    let queue = includeQueue ? try await QueueBench(url: url) : nil

    // Warm-up: connections, server, every code path once.
    _ = try await pubsub.run(messages: 2_000, tasks: 50)
    _ = try await queue?.run(jobs: 2_000, handlers: 32)
    if let server {
        _ = try redisBenchmarkRate(port: server.port, ["-c", "50", "-n", "20000", "XADD", "benchstream", "*", "f", "v"])
    }

    var samples: [String: [Double]] = [:]
    func record(_ label: String, _ value: Double) { samples[label, default: []].append(value) }
    var lost = 0
    for repetition in 1...options.repetitions {
        FileHandle.standardError.write(Data("repetition \(repetition)/\(options.repetitions)\n".utf8))
        if let server {
            record("raw XADD -c 1", try redisBenchmarkRate(port: server.port, ["-c", "1", "-n", "\(jobs / 4)", "XADD", "benchstream", "*", "f", "v"]))
            record("raw XADD -c 50", try redisBenchmarkRate(port: server.port, ["-c", "50", "-n", "\(jobs)", "XADD", "benchstream", "*", "f", "v"]))
            record("raw XADD -c 50 -P 16", try redisBenchmarkRate(port: server.port, ["-c", "50", "-P", "16", "-n", "\(jobs * 5)", "XADD", "benchstream", "*", "f", "v"]))
        }
        for tasks in [50, 1] {
            let run = try await pubsub.run(messages: tasks == 1 ? messages / 4 : messages, tasks: tasks)
            record("pubsub \(tasks) msg/s", run.messagesPerSecond)
            record("pubsub \(tasks) deliveries/s", run.deliveriesPerSecond)
            record("pubsub \(tasks) p50", run.p50Milliseconds)
            record("pubsub \(tasks) p99", run.p99Milliseconds)
            lost += run.lost
        }
        record("pubsub publish-only", try await pubsub.publishOnly(messages: messages, tasks: 50))
        guard let queue else { continue }
        record("queue sequential pull", try await queue.sequentialReceiveAcknowledge(jobs: jobs / 4))
        for handlers in [1, 32] {
            let run = try await queue.run(jobs: jobs, handlers: handlers)
            record("queue \(handlers) publish", run.publishPerSecond)
            record("queue \(handlers) drain", run.drainPerSecond)
            record("queue \(handlers) concurrent", run.concurrentPerSecond)
        }
    }
    await pubsub.close()
    await queue?.close()
    await server?.stop()

    func format(_ value: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }
    func row(_ what: String, _ label: String, digits: Int = 0) {
        guard let values = samples[label] else { return }
        print("| \(what) | \(format(median(values), digits)) | \(values.map { format($0, digits) }.joined(separator: ", ")) |")
    }
    print("| figure | median | samples |")
    print("|---|---|---|")
    row("raw `XADD` ops/s, `redis-benchmark -c 1`", "raw XADD -c 1")
    row("raw `XADD` ops/s, `redis-benchmark -c 50`", "raw XADD -c 50")
    row("raw `XADD` ops/s, `redis-benchmark -c 50 -P 16`", "raw XADD -c 50 -P 16")
    for tasks in [50, 1] {
        let who = tasks == 1 ? "1 publishing task" : "50 publishing tasks"
        row("pub/sub messages/s to all 3 subscribers, \(who)", "pubsub \(tasks) msg/s")
        row("pub/sub deliveries/s (3 per message), \(who)", "pubsub \(tasks) deliveries/s")
        row("pub/sub publish→deliver p50 ms, \(who)", "pubsub \(tasks) p50", digits: 2)
        row("pub/sub publish→deliver p99 ms, \(who)", "pubsub \(tasks) p99", digits: 2)
    }
    for handlers in [1, 32] {
        row("queue publish jobs/s, 50 tasks (run with \(handlers) handler\(handlers == 1 ? "" : "s") after)", "queue \(handlers) publish")
        row("queue drain of a backlog, jobs/s, \(handlers) handler\(handlers == 1 ? "" : "s")", "queue \(handlers) drain")
        row("queue publish + consume at once, jobs/s, \(handlers) handler\(handlers == 1 ? "" : "s")", "queue \(handlers) concurrent")
    }
    row("diagnostic: pub/sub publish-only msg/s, 50 tasks, no subscriber on the channel", "pubsub publish-only")
    row("diagnostic: queue `receive` + `acknowledge` loop in 1 task, jobs/s", "queue sequential pull")
    print("")
    print("pub/sub: \(messages) messages per run (1-task runs: \(messages / 4)), \(PubSubBench.payloadSize)-byte payload, 3 subscriber nodes; lost deliveries: \(lost)")
    print("queue: \(jobs) jobs per run, \(QueueBench.bodySize)-byte body, 50 publishing tasks; raw XADD: -n \(jobs / 4) / \(jobs) / \(jobs * 5), fields `f v`; repetitions: \(options.repetitions)")
}
