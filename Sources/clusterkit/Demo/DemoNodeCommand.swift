import ArgumentParser
import ClusterKit
import Foundation

/// `clusterkit demo-node` (hidden): one node of a multi-process demo. Reads one JSON
/// ``DemoInstruction`` per line on stdin, answers one JSON ``DemoReply`` per line on stdout,
/// and exits when stdin closes or after `shutdown`.
struct DemoNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-node",
        abstract: "Internal: one node of a multi-process demo, driven over stdin/stdout.",
        shouldDisplay: false
    )

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .warning)
        let session = DemoSession(configuration: configuration, registry: CommandEnvironment.registry, memory: MemoryBackend())
        let encoder = JSONEncoder()
        for await line in LineReader.lines(of: FileHandle.standardInput.fileDescriptor) {
            let reply: DemoReply
            let command: DemoInstruction?
            do {
                command = try JSONDecoder().decode(DemoInstruction.self, from: Data(line.utf8))
                reply = await session.handle(command!)
            } catch {
                command = nil
                reply = .failed(message: "unreadable command: \(error)")
            }
            var data = try encoder.encode(reply)
            data.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(data)
            if case .shutdown = command { break }
        }
        // Stdin closed without `shutdown` (the coordinator gave up): still release the lease
        // and drain consumers rather than leave them to TTLs.
        await session.shutdownIfStarted()
    }
}
