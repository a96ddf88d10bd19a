import Foundation
import Synchronization

/// Runs the built `clusterkit` executable with a controlled environment and working
/// directory, capturing stdout, stderr and the exit status, with a time limit.
struct CLIRunner {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// The executable next to this test bundle (SwiftPM puts products and tests in one
    /// folder), or `CLUSTERKIT_BIN` when set.
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["CLUSTERKIT_BIN"] { return URL(fileURLWithPath: path) }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent("clusterkit")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return bundle.deletingLastPathComponent().appendingPathComponent("clusterkit")
    }

    /// Runs `clusterkit arguments…` with only `PATH`, `HOME` and `environment` set, in an
    /// empty temporary directory (so no stray `.env` is read) unless `directory` is given.
    ///
    /// Async and non-blocking: waiting happens on Dispatch threads, never on the cooperative
    /// pool, so a long subprocess does not starve the timers of tests running beside it.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil,
                    timeout: Duration = .seconds(120)) async throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env["HOME"] = ProcessInfo.processInfo.environment["HOME"]
        env.merge(environment) { $1 }
        process.environment = env
        let workingDirectory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        // A directory made here is removed once the process has exited (or failed to start).
        defer { if directory == nil { try? FileManager.default.removeItem(at: workingDirectory) } }
        process.currentDirectoryURL = workingDirectory
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        // Wait for the exit through `terminationHandler`, not `waitUntilExit()`: on Linux,
        // `waitUntilExit()` off the main thread spins an empty run loop (a busy loop of
        // getpid/gettid syscalls), which burned a whole core for the length of each CLI test
        // and starved the timing-sensitive tests running beside it.
        let group = DispatchGroup()
        group.enter()
        process.terminationHandler = { _ in group.leave() }
        do {
            try process.run()
        } catch {
            group.leave()
            throw error
        }
        // Read both pipes concurrently (so a chatty process cannot block on a full pipe), on
        // Dispatch threads.
        let outData = DataBox()
        let errData = DataBox()
        for (pipe, sink) in [(stdout, outData), (stderr, errData)] {
            group.enter()
            DispatchQueue.global().async {
                sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + Double(timeout.components.seconds), execute: watchdog)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { continuation.resume() }
        }
        watchdog.cancel()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: outData.data, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
    }
}

/// Bytes read by a background reader.
private final class DataBox: Sendable {
    private let storage = Mutex(Data())
    func set(_ data: Data) { storage.withLock { $0 = data } }
    var data: Data { storage.withLock { $0 } }
}
