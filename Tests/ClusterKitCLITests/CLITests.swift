import Foundation
import Testing

@Suite("clusterkit CLI", .serialized)
struct CLITests {
    @Test("demo --json on memory adapters: one JSON object with clean figures")
    func demoJSON() async throws {
        let output = try await CLIRunner.run(["demo", "--json", "--nodes", "3", "--jobs", "300", "--ids", "2000"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
                                  "stdout is not one JSON object: \(output.stdout)")
        #expect(object["mode"] as? String == "in-process")
        #expect(object["nodes"] as? Int == 3)
        let workerIDs = try #require(object["workerIds"] as? [Int])
        #expect(Set(workerIDs).count == 3)
        #expect(object["snowflakeIds"] as? Int == 6000)
        #expect(object["duplicateSnowflakeIds"] as? Int == 0)
        #expect(object["jobsPublished"] as? Int == 300)
        #expect(object["jobsProcessed"] as? Int == 300)
        #expect(object["duplicateJobs"] as? Int == 0)
        #expect(object["lostJobs"] as? Int == 0)
        #expect(object["lockCounter"] as? Int == 300)
        #expect(object["expectedLockCounter"] as? Int == 300)
        // One signal per 100 jobs a node processed; every node (the sender too) receives it.
        let sent = try #require(object["signalsSent"] as? Int)
        #expect(sent >= 1 && sent <= 3)
        #expect(object["expectedSignalsReceived"] as? Int == sent * 3)
        #expect(object["signalsReceived"] as? Int == sent * 3)
        let adapters = try #require(object["adapters"] as? [String: String])
        #expect(adapters == ["cache": "memory", "pubsub": "memory", "queue": "memory", "lock": "memory", "workerId": "memory"])
    }

    @Test("demo --mode multi-process runs its node as a child process speaking the line protocol")
    func demoMultiProcessPlumbing() async throws {
        let output = try await CLIRunner.run(["demo", "--json", "--mode", "multi-process", "--nodes", "1", "--jobs", "150", "--ids", "500"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
                                  "stdout is not one JSON object: \(output.stdout)")
        #expect(object["mode"] as? String == "multi-process")
        #expect(object["jobsProcessed"] as? Int == 150)
        #expect(object["lockCounter"] as? Int == 150)
        #expect(object["signalsReceived"] as? Int == 1)
        #expect(object["ok"] as? Bool == true)
    }

    @Test("multi-process mode with several nodes refuses per-process (memory) adapters")
    func demoMultiProcessNeedsNetworkedAdapters() async throws {
        let output = try await CLIRunner.run(["demo", "--mode", "multi-process", "--nodes", "2"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("cache=memory"))
    }

    @Test("doctor on defaults reports every primitive healthy")
    func doctorHealthy() async throws {
        let output = try await CLIRunner.run(["doctor"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        for primitive in ["cache", "pubsub", "queue", "lock", "workerid"] {
            #expect(output.stdout.contains(primitive))
        }
    }

    @Test("a selector typo exits non-zero naming the variable, the value and the valid names")
    func doctorTypo() async throws {
        let output = try await CLIRunner.run(["doctor"], environment: ["CACHE_DEFAULT_STORE": "redsi"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("CACHE_DEFAULT_STORE"))
        #expect(output.stderr.contains("redsi"))
        #expect(output.stderr.contains("memory"))
        #expect(!output.all.contains("Fatal error"), "crashed: \(output.all)")
    }

    @Test("doctor never prints the password of a URL")
    func doctorRedacts() async throws {
        let output = try await CLIRunner.run(["doctor", "--timeout", "3"],
                                       environment: ["QUEUE_ADAPTER": "redis", "REDIS_URL": "redis://:s3cret@localhost:1/0"])
        #expect(output.status != 0)
        #expect(!output.all.contains("s3cret"), "password printed: \(output.all)")
        // The queue row fails (nothing listens on port 1) and shows the URL redacted.
        #expect(output.stderr.contains("queue:"), "stderr: \(output.stderr)")
        #expect(output.all.contains("redis://:***@localhost:1/0"), "output: \(output.all)")
    }

    @Test("a .env file in the working directory is read, and the environment beats it")
    func dotEnv() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CACHE_DEFAULT_STORE=fromfile\nPUBSUB_ADAPTER=alsofromfile\n".write(
            to: directory.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let output = try await CLIRunner.run(["doctor"], environment: ["CACHE_DEFAULT_STORE": "memory"], directory: directory)
        #expect(output.status != 0)
        #expect(output.stderr.contains("PUBSUB_ADAPTER=alsofromfile"))
        #expect(!output.stderr.contains("CACHE_DEFAULT_STORE=fromfile"), "the environment should beat .env for CACHE_DEFAULT_STORE")
    }

    @Test("conformance on memory adapters: at least 60 cases, none failed")
    func conformanceMemory() async throws {
        let output = try await CLIRunner.run(["conformance"], timeout: .seconds(300))
        #expect(output.status == 0, "\(output.stdout.suffix(3000))\n\(output.stderr.suffix(2000))")
        let last = output.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let numbers = last.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(last.hasSuffix("0 failed") || last.contains("0 failed,"), "last line: \(last)")
        #expect((numbers.first ?? 0) >= 60, "last line: \(last)")
    }

    @Test("conformance --json prints one JSON object")
    func conformanceJSON() async throws {
        let output = try await CLIRunner.run(["conformance", "--primitive", "lock", "--json"])
        #expect(output.status == 0, "\(output.stderr.suffix(2000))")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        #expect(object["failed"] as? Int == 0)
        #expect((object["passed"] as? Int ?? 0) > 0)
    }

    @Test(".env.example is exactly what the settings declaration generates")
    func envExampleInSync() async throws {
        let output = try await CLIRunner.run(["settings", "--env-example"])
        #expect(output.status == 0)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent(".env.example"), encoding: .utf8)
        #expect(file == output.stdout, "regenerate with: swift run clusterkit settings --env-example > .env.example")
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// A temporary directory holding copies of the package's generated files (the caller
    /// removes it).
    static func copyOfGeneratedFiles() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in [".env.example", "README.md"] {
            try FileManager.default.copyItem(at: packageRoot.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        return directory
    }

    @Test("settings --check passes on this package: README table and .env.example match the declaration")
    func settingsCheckOnPackage() async throws {
        let output = try await CLIRunner.run(["settings", "--check", "--package-dir", Self.packageRoot.path])
        #expect(output.status == 0, "regenerate with: swift run clusterkit settings --write\n\(output.all)")
    }

    @Test("settings --check exits 1 naming the drifted file; --write repairs it", arguments: [
        (".env.example", "WORKER_ID_MAX=31\n", ""),
        ("README.md", "| `WORKER_ID_MAX` |", "| `WORKER_ID_MAXIMUM` |"),
    ])
    func settingsCheckDrift(file: String, remove: String, insert: String) async throws {
        let directory = try Self.copyOfGeneratedFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent(file)
        let original = try String(contentsOf: url, encoding: .utf8)
        #expect(original.contains(remove))
        try original.replacingOccurrences(of: remove, with: insert).write(to: url, atomically: true, encoding: .utf8)

        let drifted = try await CLIRunner.run(["settings", "--check", "--package-dir", directory.path])
        #expect(drifted.status == 1, "\(drifted.all)")
        #expect(drifted.stderr.contains("drift: \(file): line "), "stderr: \(drifted.stderr)")
        #expect(drifted.stderr.contains("--write"), "stderr: \(drifted.stderr)")

        let repaired = try await CLIRunner.run(["settings", "--write", "--package-dir", directory.path])
        #expect(repaired.status == 0, "\(repaired.all)")
        #expect(repaired.stdout == "wrote \(file)\n")
        #expect(try String(contentsOf: url, encoding: .utf8) == original)
        let clean = try await CLIRunner.run(["settings", "--check", "--package-dir", directory.path])
        #expect(clean.status == 0, "\(clean.all)")
    }

    @Test("settings --check exits 2 when the README has no table markers")
    func settingsCheckNoMarkers() async throws {
        let directory = try Self.copyOfGeneratedFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "# A README without markers\n".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let output = try await CLIRunner.run(["settings", "--check", "--package-dir", directory.path])
        #expect(output.status == 2, "\(output.all)")
        #expect(output.stderr.contains("<!-- settings-table -->"), "stderr: \(output.stderr)")
    }
}
