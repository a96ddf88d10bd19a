import ClusterKit
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// Compiles and runs the README's code sample, so it cannot rot: every line of the sample
/// must appear, in order, in `readmeSample()` below (which adds only test scaffolding).
@Suite("README sample")
struct ReadmeSampleTests {
    @Test("every line of the README sample is in the compiled sample, in order")
    func sampleMatchesReadme() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let start = try #require(readme.range(of: "<!-- readme-sample -->\n```swift\n"))
        let end = try #require(readme.range(of: "```\n<!-- /readme-sample -->"))
        let sampleLines = readme[start.upperBound..<end.lowerBound].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("import ") }
        #expect(sampleLines.count > 10)
        let sourceLines = source.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var position = sourceLines.startIndex
        for line in sampleLines {
            guard let found = sourceLines[position...].firstIndex(of: line) else {
                Issue.record("README line not in the compiled sample (or out of order): \(line)")
                return
            }
            position = found + 1
        }
    }

    @Test("the README sample runs: cache, signal, job, lock, ID, graceful shutdown")
    func sampleRuns() async throws {
        let outcome = try await readmeSample()
        #expect(outcome.name == "Ada")
        #expect(outcome.signal == "user:42")
        #expect(outcome.jobAttempt == 1)
        #expect(outcome.token > 0)
        #expect(outcome.id > 0)
        #expect(outcome.workerIDAfterShutdown == nil)
    }

    struct Outcome {
        var name: String
        var signal: String?
        var jobAttempt: Int?
        var token: UInt64
        var id: Int64
        var workerIDAfterShutdown: Int?
    }

    func readmeSample() async throws -> Outcome {
        let jobs = AsyncStream.makeStream(of: Int.self)
        // --- the README sample, with test scaffolding marked "test:" ---
        let logger = Logger(label: "app")
        let configuration = try await ClusterConfiguration.fromEnvironment()   // env > .env > defaults
        let registry = AdapterRegistry.builtIn                                  // memory adapters; backend modules add theirs
        let cluster = try await Cluster(configuration: configuration, registry: registry, logger: logger)

        // Cache: typed values, TTLs, and a single-flight compute on miss.
        let profiles = try cluster.cache("profiles")
        let name = try await profiles.wrap("user:42", ttl: .seconds(60)) { "Ada" }

        // Pub/sub: tell every node (this one included) to drop its local copy.
        let changes = try await cluster.pubsub.subscribe("profiles.changed")
        try await cluster.pubsub.publish("profiles.changed", "user:42")

        // Queue: at-least-once jobs with retries, a timeout and a dead-letter store.
        try await cluster.queue.publish("emails", Array("welcome \(name)".utf8), options: .init(maxAttempts: 5, timeout: .seconds(30)))
        let consumer = try await cluster.queue.consume("emails", options: .init(concurrency: 8)) { message in
            logger.info("sending \(message.text), attempt \(message.attempt)")
            jobs.continuation.yield(message.attempt)   // test:
        }

        // Lock: the lease is extended while the body runs; pass the fencing token on.
        let token = try await cluster.lock.withLock("nightly-report", ttl: .seconds(30)) { lease in
            lease.fencingToken
        }

        // Snowflake IDs under this node's leased worker ID.
        let id = try await cluster.ids.next()

        // Run as a Service: renews the worker-ID lease; on SIGTERM drains consumers and releases it.
        let group = ServiceGroup(services: [cluster], gracefulShutdownSignals: [.sigterm], logger: logger)
        var signals = changes.makeAsyncIterator()                                      // test:
        let signal = await signals.next()?.text                                        // test:
        var attempts = jobs.stream.makeAsyncIterator()                                 // test:
        let attempt = await attempts.next()                                            // test:
        _ = consumer                                                                   // test:
        Task { try await Task.sleep(for: .milliseconds(100)); await group.triggerGracefulShutdown() }  // test:
        try await group.run()
        return Outcome(name: name, signal: signal, jobAttempt: attempt, token: token, id: id, workerIDAfterShutdown: cluster.workerID)
    }
}
