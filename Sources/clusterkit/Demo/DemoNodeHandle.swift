import ClusterKit
import Foundation

/// The coordinator's view of one node: send a command, get the reply.
protocol DemoNodeHandle: Sendable {
    func send(_ command: DemoInstruction) async throws -> DemoReply
    /// Waits for the node to end (process exit); in-process nodes end at once.
    func finish() async
}

/// A node running as a task of this process.
struct InProcessNode: DemoNodeHandle {
    let session: DemoSession

    func send(_ command: DemoInstruction) async throws -> DemoReply {
        await session.handle(command)
    }

    func finish() async {}
}

/// A node running as a child process (`clusterkit demo-node`), spoken to with one JSON
/// line per instruction on its stdin and one JSON line per reply on its stdout. Its stderr
/// passes through to ours. An actor: one instruction is outstanding at a time.
actor ProcessNode: DemoNodeHandle {
    private let process: Process
    private let input: FileHandle
    private var replies: AsyncStream<String>.Iterator
    private let index: Int

    init(index: Int, environment: [String: String]) throws {
        self.index = index
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["demo-node"]
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.replies = LineReader.lines(of: stdout.fileHandleForReading.fileDescriptor).makeAsyncIterator()
    }

    func send(_ instruction: DemoInstruction) async throws -> DemoReply {
        var line = try JSONEncoder().encode(instruction)
        line.append(UInt8(ascii: "\n"))
        try input.write(contentsOf: line)
        var iterator = replies
        let next = await iterator.next(isolation: self)
        replies = iterator
        guard let reply = next else {
            throw DemoError("node \(index) exited (status \(process.isRunning ? -1 : process.terminationStatus)) before replying")
        }
        return try JSONDecoder().decode(DemoReply.self, from: Data(reply.utf8))
    }

    func finish() async {
        try? input.close()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while process.isRunning, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.terminate() }
    }
}

/// Reads lines from a file descriptor on a dedicated thread (a blocking `read` must not
/// occupy a thread of Swift's cooperative pool) and hands them out as an `AsyncStream`.
enum LineReader {
    static func lines(of descriptor: Int32) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let thread = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: buffer[0..<count])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            continuation.finish()
        }
        thread.start()
        return stream
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
