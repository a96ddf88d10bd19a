import ClusterKitRedisTesting
import Foundation
import Testing

/// `clusterkit doctor` against a harness server that requires a password.
@Suite("clusterkit doctor on Redis", .serialized)
struct RedisDoctorCLITests {
    @Test func wrongPasswordFailsWithAnAuthenticationErrorThatHidesThePassword() async throws {
        let server = try await RedisServer.start(.init(password: "doctor-right-7c2e"))
        defer { Task { await server.stop() } }
        let secret = "doctor-wrong-41ab"
        let environment = ["CACHE_DEFAULT_STORE": "redis", "LOCK_ADAPTER_DEFAULT": "redis", "WORKER_ID_ADAPTER": "redis",
                           "REDIS_URL": server.url(password: secret)]
        let failed = try await runClusterKit(["doctor"], environment: environment)
        #expect(failed.status != 0, "doctor must exit non-zero: \(failed.output)")
        #expect(failed.output.contains("authenticationFailed"), "\(failed.output)")
        #expect(!failed.output.contains(secret), "the password leaked: \(failed.output)")

        let passed = try await runClusterKit(["doctor"], environment: environment.merging(["REDIS_URL": server.url()]) { $1 })
        #expect(passed.status == 0, "\(passed.output)")
        #expect(!passed.output.contains("doctor-right-7c2e"), "the password leaked: \(passed.output)")
    }
}

/// Runs the built `clusterkit` (next to the test bundle, or `CLUSTERKIT_BIN`) in an empty
/// temporary directory with only PATH, HOME and `environment`; stdout and stderr together.
func runClusterKit(_ arguments: [String], environment: [String: String], timeout: Duration = .seconds(60)) async throws -> (status: Int32, output: String) {
    let executable: URL
    if let path = ProcessInfo.processInfo.environment["CLUSTERKIT_BIN"] {
        executable = URL(fileURLWithPath: path)
    } else {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = bundle.deletingLastPathComponent()
        var found: URL?
        while folder.path != "/", found == nil {
            let candidate = folder.appendingPathComponent("clusterkit")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { found = candidate }
            folder = folder.deletingLastPathComponent()
        }
        executable = try #require(found, "the clusterkit executable was not built next to the tests (swift build --build-tests)")
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-redis-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outputFile = directory.appendingPathComponent("output.txt")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    let handle = try FileHandle(forWritingTo: outputFile)
    defer { try? handle.close() }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
    env["HOME"] = ProcessInfo.processInfo.environment["HOME"]
    process.environment = env.merging(environment) { $1 }
    process.currentDirectoryURL = directory
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            Issue.record("clusterkit \(arguments) did not finish within \(timeout)")
            break
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    return (process.terminationStatus, output)
}
