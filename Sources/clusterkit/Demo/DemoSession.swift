import ClusterKit
import Synchronization

/// One demo node: a `Cluster` doing the demo workload, driven by ``DemoInstruction``s.
///
/// Each node leases a worker ID, issues snowflake IDs, subscribes to the signal channel,
/// consumes the shared job queue, increments the shared counter under the lock
/// (read, then write: the lock is what keeps it exact) once per job, and publishes one
/// signal per 100 jobs it processed.
actor DemoSession {
    private let registry: AdapterRegistry
    private let configuration: ClusterConfiguration
    private let memory: MemoryBackend
    private var node: RunningNode?

    init(configuration: ClusterConfiguration, registry: AdapterRegistry, memory: MemoryBackend) {
        self.configuration = configuration
        self.registry = registry
        self.memory = memory
    }

    /// Shuts the node down if it was started and not shut down yet (stdin closed early).
    func shutdownIfStarted() async {
        await node?.shutdown()
    }

    /// Runs one command; errors become `.failed` replies.
    func handle(_ command: DemoInstruction) async -> DemoReply {
        do {
            return try await perform(command)
        } catch {
            return .failed(message: Redaction.redactingURLPasswords(in: String(describing: error)))
        }
    }

    private func perform(_ command: DemoInstruction) async throws -> DemoReply {
        if case .start(let plan, let index) = command {
            let started = try await RunningNode.start(plan: plan, index: index, configuration: configuration,
                                                      registry: registry, memory: memory)
            node = started
            return .ready(workerID: started.workerIDAtStart)
        }
        guard let node else { return .failed(message: "node not started") }
        switch command {
        case .start: return .failed(message: "already started")
        case .consume:
            try await node.startConsuming()
            return .done
        case .publish(let count):
            try await node.publishJobs(count)
            return .done
        case .progress:
            return .progress(processed: node.tally.processedCount)
        case .stop:
            await node.stopConsuming()
            return .stopped(signalsSent: node.tally.snapshot.signalsSent)
        case .awaitSignals(let expected, let timeout):
            return .signals(received: await node.awaitSignals(expected, timeout: .seconds(timeout)))
        case .report:
            return .report(try await node.report())
        case .shutdown:
            await node.shutdown()
            return .done
        }
    }
}

/// Counts what a node did; shared by the node, its handlers and its signal listener.
final class DemoTally: Sendable {
    struct State {
        var processed: [String] = []
        var signalsSent = 0
        var signalsReceived = 0
    }

    private let state = Mutex(State())

    /// Records a completed job; returns how many this node has completed.
    func processed(_ job: String) -> Int {
        state.withLock { state in
            state.processed.append(job)
            return state.processed.count
        }
    }

    func signalSent() { state.withLock { $0.signalsSent += 1 } }
    func signalReceived() { state.withLock { $0.signalsReceived += 1 } }
    var snapshot: State { state.withLock { $0 } }
    var processedCount: Int { state.withLock { $0.processed.count } }
}

/// The started node's cluster, consumer, listener and tally.
final class RunningNode: Sendable {
    let plan: DemoPlan
    let index: Int
    let cluster: Cluster
    let ids: [Int64]
    let tally: DemoTally
    /// The worker ID held when the node started (the report also says whether it still
    /// holds it at the end).
    let workerIDAtStart: Int?
    private let consumer = Mutex<(any QueueConsumer)?>(nil)
    private let listener: Task<Void, Never>
    private let subscription: PubSubSubscription
    /// `cluster.run()`: renews the worker-ID lease while the node lives.
    private let service: Task<Void, Never>

    private init(plan: DemoPlan, index: Int, cluster: Cluster, ids: [Int64], tally: DemoTally, subscription: PubSubSubscription,
                 listener: Task<Void, Never>, service: Task<Void, Never>, workerIDAtStart: Int?) {
        self.plan = plan
        self.index = index
        self.cluster = cluster
        self.ids = ids
        self.tally = tally
        self.subscription = subscription
        self.listener = listener
        self.service = service
        self.workerIDAtStart = workerIDAtStart
    }

    static func start(plan: DemoPlan, index: Int, configuration: ClusterConfiguration, registry: AdapterRegistry,
                      memory: MemoryBackend) async throws -> RunningNode {
        // In-process nodes share one configuration: a pinned CLUSTERKIT_NODE_ID gets a
        // per-node suffix so node IDs stay unique.
        let nodeID = configuration.nodeID.map { NodeID("\($0.rawValue)-\(index)") } ?? NodeID.generate()
        let cluster = try await Cluster(configuration: configuration, registry: registry, nodeID: nodeID, memory: memory)
        let workerIDAtStart = cluster.workerID
        // Run the node as a service would: renews the lease until cancelled, then shuts down.
        let service = Task<Void, Never> { try? await cluster.run() }
        do {
            let tally = DemoTally()
            let subscription = try await cluster.pubsub.subscribe(plan.channel)
            let listener = Task {
                for await _ in subscription { tally.signalReceived() }
            }
            var ids: [Int64] = []
            ids.reserveCapacity(plan.idsPerNode)
            do {
                for _ in 0..<plan.idsPerNode { ids.append(try await cluster.ids.next()) }
            } catch {
                subscription.cancel()
                throw error
            }
            return RunningNode(plan: plan, index: index, cluster: cluster, ids: ids, tally: tally, subscription: subscription,
                               listener: listener, service: service, workerIDAtStart: workerIDAtStart)
        } catch {
            service.cancel()
            await cluster.shutdown()
            throw error
        }
    }

    func startConsuming() async throws {
        let cache = try cluster.cache(plan.cacheName)
        let cluster = self.cluster
        let plan = self.plan
        let tally = self.tally
        let index = self.index
        let started = try await cluster.queue.consume(plan.queue, options: .init(concurrency: plan.handlerConcurrency)) { message in
            // Read, then write: only the lock keeps the counter exact.
            try await cluster.lock.withLock(plan.lockKey, ttl: .seconds(10), timeout: .seconds(120)) { _ in
                let value = try await cache.get(plan.counterKey, as: Int.self) ?? 0
                try await cache.set(plan.counterKey, value + 1)
            }
            let count = tally.processed(message.text)
            if count % DemoPlan.jobsPerSignal == 0 {
                try await cluster.pubsub.publish(plan.channel, "processed \(count) on node \(index)")
                tally.signalSent()
            }
        }
        consumer.withLock { $0 = started }
    }

    func publishJobs(_ count: Int) async throws {
        for number in 0..<count {
            try await cluster.queue.publish(plan.queue, Array("job-\(number)".utf8))
        }
    }

    func stopConsuming() async {
        let running = consumer.withLock { $0 }
        await running?.stop(drainTimeout: .seconds(30))
    }

    func awaitSignals(_ expected: Int, timeout: Duration) async -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while tally.snapshot.signalsReceived < expected, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return tally.snapshot.signalsReceived
    }

    func report() async throws -> DemoNodeReport {
        let counter = try await cluster.cache(plan.cacheName).get(plan.counterKey, as: Int.self) ?? 0
        let tally = self.tally.snapshot
        return DemoNodeReport(index: index, nodeID: cluster.nodeID.rawValue, workerID: cluster.workerID, snowflakeIDs: ids,
                              processedJobs: tally.processed, signalsSent: tally.signalsSent,
                              signalsReceived: tally.signalsReceived, counter: counter)
    }

    func shutdown() async {
        subscription.cancel()
        listener.cancel()
        service.cancel()
        await service.value
        await cluster.shutdown()
    }
}
