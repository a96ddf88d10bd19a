import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation
import Synchronization
import Testing

/// Issue 4's proof that at-least-once survives a crashed consumer PROCESS (not just a closed
/// adapter): a separate `clusterkit queue-worker --hang` process takes a message and holds it
/// in its handler; while it lives, its claim is extended and no other node gets the message;
/// once it is SIGKILLed (no cleanup of any kind runs), a consumer in this process gets the same
/// message, as attempt 2, after the visibility timeout and not before.
@Suite("Redis queue: consumer process killed mid-handler", .serialized)
struct RedisQueueProcessKillTests {
    /// Long enough that a claim renewed every third of it survives a scheduling hiccup of
    /// the child on a busy machine; short enough to keep the test quick.
    static let visibilityTimeout: Duration = .milliseconds(1500)

    @Test func aMessageHeldByAKilledConsumerProcessIsRedeliveredToAnotherNodeAfterTheVisibilityTimeout() async throws {
        let server = try await RedisServer.shared()
        let appName = uniquePrefix("killed-worker").replacingOccurrences(of: ":", with: "")
        let queueName = "jobs"
        let survivor = RedisMessageQueue(client: try await makeClient(server.url()), appName: appName, nodeID: NodeID("survivor"))
        defer { Task { await survivor.close(drainTimeout: .zero) } }
        let id = try await survivor.publish(queueName, Array("held by the child".utf8))

        let child = try ChildProcess.start(
            ["queue-worker", "--queue", queueName, "--visibility-ms", "\(Self.visibilityTimeout.wholeMillisecondsRoundedUp)", "--hang"],
            environment: ["QUEUE_ADAPTER": "redis", "REDIS_URL": server.url(), "APP_NAME": appName])
        // Killed on every path out of this test, also when an expectation throws.
        defer { child.sigkill() }

        let taken = "taken \(id) attempt 1"
        let sawTaken = await child.waitForLine(taken, timeout: .seconds(30))
        try #require(sawTaken, "the child never reported '\(taken)'; stdout: \(child.stdout); stderr: \(child.stderr)")
        #expect(try await survivor.counts(queueName) == QueueCounts(inFlight: 1), "the child holds the message un-acknowledged")

        // Another node consumes from now on, with the same visibility timeout.
        let received = Mutex<[(message: QueueMessage, at: ContinuousClock.Instant)]>([])
        let consumer = try await survivor.consume(queueName, options: .init(visibilityTimeout: Self.visibilityTimeout)) { message in
            received.withLock { $0.append((message, ContinuousClock.now)) }
        }
        defer { Task { await consumer.stop(drainTimeout: .zero) } }

        // While the child lives it renews its claim: two whole visibility timeouts pass and
        // the message stays with it.
        try await Task.sleep(for: Self.visibilityTimeout * 2)
        #expect(received.withLock { $0.isEmpty }, "a live consumer process lost its message: \(received.withLock { $0.map(\.message.attempt) })")
        #expect(child.isRunning, "the child exited on its own; stderr: \(child.stderr)")

        // How long the message had gone without a renewal just before the kill (the pending
        // list's idle time): on a loaded machine the child's renewals can come late, and the
        // visibility timeout counts from the last one, not from the kill.
        let probe = try await makeClient(server.url())
        let idleBeforeKill = try await Self.idleTime(of: id, queue: queueName, appName: appName, probe: probe)
        let probedAt = ContinuousClock.now
        await probe.close()
        child.sigkill()
        let killedAt = ContinuousClock.now
        let exited = await child.waitForExit(timeout: .seconds(10))
        #expect(exited, "the child did not die after SIGKILL")

        let deadline = killedAt + Self.visibilityTimeout + .seconds(15)
        while received.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let deliveries = received.withLock { $0 }
        let redelivery = try #require(deliveries.first, "the killed child's message was not redelivered within 15 s after its visibility timeout")
        #expect(deliveries.count == 1, "delivered \(deliveries.count) times: attempts \(deliveries.map(\.message.attempt))")
        #expect(redelivery.message.id == id)
        #expect(redelivery.message.text == "held by the child")
        #expect(redelivery.message.attempt == 2, "the redelivery after a crash counts as the second attempt")
        // At the kill the message had been idle for at most `idleBeforeKill` plus the time
        // since the probe (a renewal in between only lowers it; the child renews every third
        // of the timeout, so normally ≤ 500 ms): it may be taken no sooner than the rest of
        // the visibility timeout after the kill (less a little clock slack).
        let idleAtKill = idleBeforeKill + (killedAt - probedAt)
        let earliest = Self.visibilityTimeout - idleAtKill - .milliseconds(50)
        let waited = redelivery.at - killedAt
        #expect(waited >= earliest,
                "redelivered \(waited) after the kill, idle \(idleAtKill) then: before the visibility timeout (\(Self.visibilityTimeout)) could have passed")

        // The survivor acknowledged it: nothing is left anywhere.
        let settled = try await eventuallySucceeds(within: .seconds(5)) { () async throws -> QueueCounts in
            let counts = try await survivor.counts(queueName)
            guard counts == QueueCounts() else { throw CountsNotSettled(counts: counts) }
            return counts
        }
        #expect(settled == QueueCounts())
    }

    /// The idle time of message `id`'s entry in the queue's pending list (`XPENDING` with a
    /// range: entry ID, consumer, idle ms, deliveries); the message is its entry (published
    /// without a delay).
    static func idleTime(of id: QueueMessageID, queue: String, appName: String, probe: RedisClient) async throws -> Duration {
        let stream = RedisQueueKeys.stream(appName: appName, queue: queue)
        let reply = try await probe.send(RedisCommand("XPENDING", arguments: [stream, RedisQueueKeys.group, id.rawValue, id.rawValue, 1]))
        let entry = try #require(try reply.array().first, "the message is not pending: \(reply)")
        return .milliseconds(try entry.array()[2].integer())
    }
}

private struct CountsNotSettled: Error { var counts: QueueCounts }

/// A `clusterkit` subprocess whose stdout lines and stderr are collected in the background,
/// and whose exit is observed through `terminationHandler` (never `waitUntilExit()`, which
/// spins a core on Linux).
private final class ChildProcess: Sendable {
    private let process: Process
    private let output = Mutex((stdout: "", stderr: ""))
    private let exited = Mutex(false)

    private init(process: Process) { self.process = process }

    static func start(_ arguments: [String], environment: [String: String]) throws -> ChildProcess {
        let process = Process()
        process.executableURL = try clusterKitExecutable()
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env["HOME"] = ProcessInfo.processInfo.environment["HOME"]
        process.environment = env.merging(environment) { $1 }
        // An empty directory, so no stray .env is read.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-queue-worker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process.currentDirectoryURL = directory
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let child = ChildProcess(process: process)
        process.terminationHandler = { _ in
            child.exited.withLock { $0 = true }
            try? FileManager.default.removeItem(at: directory)
        }
        try process.run()
        // Each pipe is drained on its own Dispatch thread until EOF (the child's death).
        for (pipe, isStdout) in [(stdout, true), (stderr, false)] {
            DispatchQueue.global().async {
                let handle = pipe.fileHandleForReading
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    let text = String(decoding: data, as: UTF8.self)
                    child.output.withLock { if isStdout { $0.stdout += text } else { $0.stderr += text } }
                }
            }
        }
        return child
    }

    var stdout: String { output.withLock { $0.stdout } }
    var stderr: String { output.withLock { $0.stderr } }
    var isRunning: Bool { !exited.withLock { $0 } }

    /// SIGKILL, if it is still running: the process gets no chance to clean up.
    func sigkill() {
        guard isRunning else { return }
        _ = kill(process.processIdentifier, SIGKILL)
    }

    /// Waits (bounded, polling) until stdout has a line equal to `line`.
    func waitForLine(_ line: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stdout.split(separator: "\n").contains(where: { $0 == line }) { return true }
            if !isRunning { return stdout.split(separator: "\n").contains(where: { $0 == line }) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits (bounded, polling) until the process has exited.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !isRunning
    }

    /// The built `clusterkit` next to the test bundle (SwiftPM puts products and tests in one
    /// folder), or `CLUSTERKIT_BIN` when set.
    private static func clusterKitExecutable() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["CLUSTERKIT_BIN"] { return URL(fileURLWithPath: path) }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent("clusterkit")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        throw ExecutableNotBuilt()
    }
}

private struct ExecutableNotBuilt: Error, CustomStringConvertible {
    var description: String { "the clusterkit executable was not built next to the tests (swift build --build-tests)" }
}
