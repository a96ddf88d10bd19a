import Foundation

/// Runs a helper program (redis-benchmark) and returns its stdout, without blocking the
/// cooperative pool: the exit is awaited through `terminationHandler` (on Linux,
/// `waitUntilExit()` off the main thread spins), and a run longer than `timeout` seconds is
/// killed and reported as an error.
enum ChildProcess {
    static func output(_ executable: String, _ arguments: [String], timeout: Double) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        process.terminationHandler = { _ in
            exit.yield()
            exit.finish()
        }
        try process.run()
        // Read stdout on a thread of its own (a blocking read never runs on the cooperative
        // pool); reading while the child runs keeps a full pipe from blocking it.
        let handle = stdout.fileHandleForReading
        async let data = OffPoolThread.run { handle.readDataToEndOfFile() }
        let killer = Task {
            try await Task.sleep(for: .seconds(timeout))
            process.terminate()
        }
        for await _ in exited {}
        killer.cancel()
        let output = await data
        guard process.terminationReason == .exit else {
            throw BenchError("\(URL(fileURLWithPath: executable).lastPathComponent) was stopped after \(BenchFormat.number(timeout)) s")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
