import ArgumentParser
import ClusterKit
import Foundation

/// `clusterkit queue-worker` (hidden): one consumer process on the configured queue adapter,
/// for tests that kill a consumer mid-handler.
///
/// For every message it prints `taken <id> attempt <n>` on stdout (flushed at once, so the
/// parent sees it before deciding to kill). With `--hang` the handler then never returns:
/// the message stays un-acknowledged, the live consumer keeps extending its claim, and only
/// the death of this process lets the visibility timeout hand it to another node. Without
/// `--hang` each message is acknowledged. The process runs until it is killed.
struct QueueWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue-worker",
        abstract: "Internal: a queue consumer process that reports what it takes (for process-kill tests).",
        shouldDisplay: false
    )

    @Option(help: "The queue to consume.")
    var queue: String

    @Option(name: .customLong("visibility-ms"), help: "The consumer's visibility timeout in milliseconds.")
    var visibilityMilliseconds: Int = 30_000

    @Flag(help: "Never return from the handler (hold every message un-acknowledged until killed).")
    var hang = false

    func validate() throws {
        guard visibilityMilliseconds > 0 else { throw ValidationError("--visibility-ms must be positive") }
    }

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .warning)
        let registry = CommandEnvironment.registry
        let adapter: any MessageQueue
        do {
            let resolved = try configuration.resolve(.queue, in: registry)
            let nodeID = configuration.nodeID ?? NodeID("queue-worker-\(getpid())")
            let context = AdapterContext(primitive: .queue, adapterName: resolved.name, nodeID: nodeID,
                                         configuration: configuration, url: resolved.url, memory: MemoryBackend(),
                                         logger: .init(label: "clusterkit.queue-worker"))
            adapter = try await registry.makeQueue(context)
        } catch {
            CommandEnvironment.fail(String(describing: error), status: 1)
        }
        let hang = self.hang
        let options = QueueConsumerOptions(visibilityTimeout: .milliseconds(visibilityMilliseconds))
        let consumer = try await adapter.consume(queue, options: options) { message in
            Self.report("taken \(message.id) attempt \(message.attempt)")
            if hang {
                // Sleeps until the process is killed; ends only if the consumer cancels it.
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
        }
        Self.report("consuming \(queue) as \(adapter.nodeID)")
        // Runs until killed; a cancelled sleep (never expected here) still closes cleanly.
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        await consumer.stop(drainTimeout: .zero)
        await adapter.close(drainTimeout: .zero)
    }

    /// One line on stdout, written straight to the file descriptor (no buffering to lose on
    /// SIGKILL).
    private static func report(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
