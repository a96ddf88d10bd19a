import ClusterKit
import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation
import Synchronization

extension HotPath {
    /// `redis-queue-job`: the `redis queue end-to-end` bench row in miniature — a
    /// producing node (50 tasks) publishes `iterations` 64-byte jobs while a consuming node
    /// (one consumer, 32 no-op handlers) handles them; returns when every job was handled.
    /// Counts this process only (both nodes: publish, read, dispatch, acknowledge), not the
    /// private `redis-server` it starts (valgrind does not follow children).
    static let redisQueueJob = HotPath(name: "redis-queue-job") { iterations in
        let server = try await PlainRedisServer.start()
        defer { server.stop() }
        return try await publishAndHandle(iterations, url: server.url)
    }

    private static func publishAndHandle(_ iterations: Int, url: String) async throws -> Int {
        let configuration = try RedisClientConfiguration(parsing: url)
        let producer = RedisMessageQueue(client: try await RedisClient.connect(configuration), appName: "hot", nodeID: NodeID("producer"))
        let consumer = RedisMessageQueue(client: try await RedisClient.connect(configuration), appName: "hot", nodeID: NodeID("consumer"))
        let all = JobCountdown(iterations)
        let running = try await consumer.consume("jobs", options: QueueConsumerOptions(concurrency: 32)) { _ in all.done() }
        let body = [UInt8](repeating: 0x6A, count: 64)
        let tasks = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for _ in stride(from: task, to: iterations, by: tasks) { _ = try await producer.publish("jobs", body, options: .init()) }
                }
            }
            try await group.waitForAll()
        }
        await all.wait()
        await running.stop(drainTimeout: .seconds(5))
        await consumer.close()
        await producer.close()
        return iterations
    }
}

/// Resumes one waiter once `done()` was called `count` times (no polling, so waiting adds
/// no instructions per job).
private final class JobCountdown: Sendable {
    private struct State {
        var remaining: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(remaining: count)) }

    func done() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.remaining <= 0 { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A throw-away `redis-server` (loopback, free port, no persistence) started with a plain
/// `posix_spawn`: under valgrind, Foundation's `Process` (which `RedisServer` uses) fails
/// with EBADF, because valgrind reserves the highest file descriptors.
struct PlainRedisServer {
    let pid: pid_t
    let url: String

    static func start() async throws -> PlainRedisServer {
        let port = try RedisServer.freeLoopbackPort()
        let arguments = ["redis-server", "--bind", "127.0.0.1", "--port", "\(port)", "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--logfile", "/dev/null"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, "redis-server", nil, nil, &argv, environ)
        guard status == 0 else { throw HotPathFailure("could not start redis-server (posix_spawnp: \(status))") }
        let server = PlainRedisServer(pid: pid, url: "redis://127.0.0.1:\(port)/0")
        for _ in 0..<500 {
            if let client = try? await RedisClient.connect(RedisClientConfiguration(parsing: server.url)) {
                await client.close()
                return server
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        server.stop()
        throw HotPathFailure("redis-server did not answer within 5 s")
    }

    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
