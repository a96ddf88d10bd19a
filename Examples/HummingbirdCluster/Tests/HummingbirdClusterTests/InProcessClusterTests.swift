import ClusterKit
@testable import HummingbirdCluster
import Logging
import Testing

/// Two instances in one process on the memory adapters (one shared `MemoryBackend`): the
/// same code paths the routes use, without HTTP or Redis. The three-instance script checks
/// the real thing.
@Suite struct InProcessClusterTests {
    private struct Instance {
        let cluster: Cluster
        let items: ItemService
        let counter: Counter
    }

    private func instances(_ count: Int) async throws -> [Instance] {
        let backend = MemoryBackend()
        let logger = Logger(label: "test")
        var made: [Instance] = []
        for index in 0..<count {
            let cluster = try await Cluster(configuration: try ClusterConfiguration(values: [:]), nodeID: NodeID("node-\(index)"),
                                            memory: backend, logger: logger)
            made.append(Instance(cluster: cluster, items: try ItemService(cluster: cluster, local: LocalItemCache()),
                                 counter: try Counter(cluster: cluster)))
        }
        return made
    }

    private func shutdown(_ instances: [Instance]) async {
        for instance in instances { await instance.cluster.shutdown() }
    }

    @Test func aWriteOnOneInstanceDropsTheOthersLocalCopy() async throws {
        let nodes = try await instances(2)
        let (a, b) = (nodes[0], nodes[1])
        let readiness = Readiness()
        let listener = Task {
            try await InvalidationListener(cluster: b.cluster, local: b.items.local, readiness: readiness,
                                           logger: Logger(label: "test")).run()
        }
        // A signal published before the subscription exists would never reach b.
        try await eventually { !readiness.pending.contains(.invalidationListener) }

        _ = try await a.items.write("42", name: "old")
        #expect(try await b.items.read("42")?.item.name == "old")
        // The signal of that write reaches b asynchronously; if it lands while b's first
        // read is in flight, that read (rightly) does not keep its copy. Read until b
        // serves from its local copy: from then on only a signal can change what it serves.
        try await eventually { try await b.items.read("42")?.source == .local }
        #expect(try await b.items.read("42")?.item.name == "old")
        _ = try await a.items.write("42", name: "new")
        var seen: String?
        try? await eventually {
            seen = try await b.items.read("42")?.item.name
            return seen == "new"
        }
        #expect(seen == "new", "b kept serving its local copy after a's write")
        #expect(b.items.local.stats.invalidations >= 1)

        listener.cancel()
        _ = await listener.result
        await shutdown(nodes)
    }

    /// Polls `condition` every 10 ms for up to 2 s; throws when it never held.
    private func eventually(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TimedOut()
    }

    private struct TimedOut: Error {}

    @Test func readOfAMissingItemIsNil() async throws {
        let nodes = try await instances(1)
        #expect(try await nodes[0].items.read("missing") == nil)
        await shutdown(nodes)
    }

    @Test func concurrentIncrementsOnTwoInstancesAreExactAndEachRanUnderItsOwnLease() async throws {
        let nodes = try await instances(2)
        let results = try await withThrowingTaskGroup(of: (value: Int64, fencingToken: UInt64).self) { group in
            for index in 0..<60 {
                let counter = nodes[index % 2].counter
                group.addTask { try await counter.increment() }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try await nodes[1].counter.value() == 60)
        #expect(Set(results.map(\.value)) == Set(1...60), "each increment should see a value no other saw")
        // Fencing tokens grow with each acquisition: sorted by token, the values must be 1...60.
        let byToken = results.sorted { $0.fencingToken < $1.fencingToken }
        #expect(Set(results.map(\.fencingToken)).count == 60 && !results.contains { $0.fencingToken == 0 })
        #expect(byToken.map(\.value) == Array(1...60), "increments did not run one lease after another")
        await shutdown(nodes)
    }
}
