import ArgumentParser
import ClusterKit
import Foundation

/// `clusterkit demo`: a small cluster workload through the configured adapters, checked
/// for the invariants cluster mode must keep (unique worker IDs and snowflake IDs, every
/// job processed exactly once, an exact counter under the lock, every signal delivered).
///
/// With memory adapters the nodes are tasks of this process sharing one memory backend
/// ("in-process"). When every selected adapter is networked, each node is a separate OS
/// process running `clusterkit demo-node` ("multi-process"), so the cluster is real.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a small cluster workload through the configured adapters and check its invariants."
    )

    @Option(name: .long, help: "Number of nodes.")
    var nodes = 3

    @Option(name: .long, help: "Number of jobs published to the shared queue.")
    var jobs = 1000

    @Option(name: .long, help: "Snowflake IDs each node issues.")
    var ids = 10_000

    @Option(name: .long, help: "Handlers each node runs at once.")
    var concurrency = 4

    @Flag(name: .long, help: "Print exactly one JSON object on stdout; progress goes to stderr.")
    var json = false

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case auto, inProcess = "in-process", multiProcess = "multi-process"
    }

    @Option(name: .long, help: "auto (multi-process once every adapter is networked), in-process or multi-process.")
    var mode: Mode = .auto

    func validate() throws {
        guard (1...64).contains(nodes) else { throw ValidationError("--nodes must be in 1...64") }
        guard (0...1_000_000).contains(jobs) else { throw ValidationError("--jobs must be in 0...1000000") }
        guard (0...1_000_000).contains(ids) else { throw ValidationError("--ids must be in 0...1000000") }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be in 1...256") }
    }

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .warning)
        let registry = CommandEnvironment.registry
        var adapters: [Primitive: ResolvedAdapter] = [:]
        do {
            for primitive in Primitive.allCases { adapters[primitive] = try configuration.resolve(primitive, in: registry) }
        } catch {
            failRun(error.message, status: 2)
        }
        let networked = adapters.values.allSatisfy(\.registration.isNetworked)
        let multiProcess: Bool
        switch mode {
        case .auto: multiProcess = networked
        case .inProcess: multiProcess = false
        case .multiProcess:
            // Memory adapters keep state per process: separate processes would not share a
            // queue, counter or signals. One node is still a faithful run of the machinery.
            let local = adapters.values.filter { !$0.registration.isNetworked }.map { "\($0.primitive)=\($0.name)" }.sorted()
            if !local.isEmpty && nodes > 1 {
                failRun("--mode multi-process needs networked adapters for every primitive with --nodes > 1; "
                    + "these keep state per process: \(local.joined(separator: ", "))", status: 2)
            }
            multiProcess = true
        }
        let plan = DemoPlan(runID: String(UInt64.random(in: 0 ... .max), radix: 36), nodes: nodes, jobs: jobs, idsPerNode: ids,
                            handlerConcurrency: concurrency)
        let mode = multiProcess ? "multi-process" : "in-process"
        progress("demo: \(nodes) nodes, \(jobs) jobs, \(mode)")

        let clock = ContinuousClock()
        let start = clock.now
        let handles: [any DemoNodeHandle]
        if multiProcess {
            var environment = ProcessInfo.processInfo.environment
            environment[ClusterSettings.nodeID.name] = nil
            handles = try (0..<nodes).map { try ProcessNode(index: $0, environment: environment) }
        } else {
            let memory = MemoryBackend()
            handles = (0..<nodes).map { _ in
                InProcessNode(session: DemoSession(configuration: configuration, registry: registry, memory: memory))
            }
        }
        let reports: [DemoNodeReport]
        do {
            reports = try await DemoCoordinator(plan: plan, handles: handles, progress: progress).run()
        } catch {
            for handle in handles { _ = try? await handle.send(.shutdown) }
            for handle in handles { await handle.finish() }
            failRun("demo failed: \(error)", status: 1)
        }
        for handle in handles { await handle.finish() }

        let summary = DemoSummary(plan: plan, mode: mode, adapters: adapters, reports: reports,
                                  seconds: (clock.now - start).seconds)
        if json {
            print(try summary.json())
        } else {
            print(summary.text)
        }
        if !summary.isClean { throw ExitCode(1) }
    }

    /// Ends the run with `message` on stderr and, with `--json`, `{"ok":false,"error":…}` on
    /// stdout, so scripts always get exactly one JSON object.
    private func failRun(_ message: String, status: Int32) -> Never {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let text = Redaction.redactingURLPasswords(in: message)
            struct Failure: Encodable { let ok = false; let error: String }
            if let data = try? encoder.encode(Failure(error: text)) { print(String(decoding: data, as: UTF8.self)) }
        }
        CommandEnvironment.fail(message, status: status)
    }

    private func progress(_ message: String) {
        CommandEnvironment.printError(message)
    }
}

/// Drives the nodes through the demo's phases.
struct DemoCoordinator {
    let plan: DemoPlan
    let handles: [any DemoNodeHandle]
    let progress: (String) -> Void

    func run() async throws -> [DemoNodeReport] {
        // 1. Start every node: lease a worker ID, subscribe, issue IDs.
        let ready = try await all(.start(plan: plan, index: 0), perNode: { .start(plan: plan, index: $0) })
        for (index, reply) in ready.enumerated() {
            guard case .ready(let workerID) = reply else { throw DemoError("node \(index) did not start: \(reply)") }
            progress("demo: node \(index) ready, worker ID \(workerID.map(String.init) ?? "none")")
        }
        // 2. Everyone consumes; node 0 publishes the jobs.
        try await expectDone(all(.consume))
        try await expectDone([handles[0].send(.publish(count: plan.jobs))])
        progress("demo: \(plan.jobs) jobs published")

        // 3. Wait until the processed count reaches the job count (or stops moving).
        let clock = ContinuousClock()
        var lastTotal = -1
        var lastChange = clock.now
        var lastReport = clock.now
        while true {
            let counts = try await all(.progress).map { reply -> Int in
                if case .progress(let processed) = reply { return processed }
                return 0
            }
            let total = counts.reduce(0, +)
            if total >= plan.jobs { break }
            if total != lastTotal {
                lastTotal = total
                lastChange = clock.now
            } else if clock.now - lastChange > .seconds(30) {
                progress("demo: no progress for 30 s at \(total)/\(plan.jobs) jobs; finishing")
                break
            }
            if clock.now - lastReport > .seconds(1) {
                progress("demo: \(total)/\(plan.jobs) jobs processed")
                lastReport = clock.now
            }
            try await Task.sleep(for: .milliseconds(20))
        }

        // 4. Stop consuming, then wait until every node received every signal sent.
        let sent = try await all(.stop).map { reply -> Int in
            if case .stopped(let signals) = reply { return signals }
            return 0
        }.reduce(0, +)
        _ = try await all(.awaitSignals(expected: sent, timeoutSeconds: 15))

        // 5. Collect the reports and shut down.
        let reports = try await all(.report).enumerated().map { index, reply -> DemoNodeReport in
            guard case .report(let report) = reply else { throw DemoError("node \(index) did not report: \(reply)") }
            return report
        }
        try await expectDone(all(.shutdown))
        return reports
    }

    private func all(_ command: DemoInstruction, perNode: ((Int) -> DemoInstruction)? = nil) async throws -> [DemoReply] {
        try await withThrowingTaskGroup(of: (Int, DemoReply).self) { group in
            for (index, handle) in handles.enumerated() {
                let command = perNode?(index) ?? command
                group.addTask { (index, try await handle.send(command)) }
            }
            var replies = [DemoReply?](repeating: nil, count: handles.count)
            for try await (index, reply) in group {
                if case .failed(let message) = reply { throw DemoError("node \(index): \(message)") }
                replies[index] = reply
            }
            return replies.map { $0! }
        }
    }

    private func expectDone(_ replies: [DemoReply]) throws {
        for (index, reply) in replies.enumerated() {
            guard case .done = reply else { throw DemoError("node \(index) answered \(reply)") }
        }
    }
}
