import CRabbitMQRawLoop
import ClusterKit
import ClusterKitRabbitMQ
import Foundation
import Synchronization

/// Paths that need a running RabbitMQ broker (`RABBITMQ_URL`), for profiling the
/// `rabbitmq` queue adapter end to end under callgrind (instructions per message of the
/// client process; the broker runs outside valgrind). They are not in ``HotPath/all``: the
/// regression check runs without servers. Run them by name, e.g.
///
/// ```sh
/// RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
///     valgrind --tool=callgrind clusterkit-hotpaths.nodwarf rabbitmq-publish 2000
/// clusterkit-hotpaths rabbitmq-fill 2000          # not under valgrind: the backlog
/// valgrind --tool=callgrind clusterkit-hotpaths.nodwarf rabbitmq-consume 2000
/// ```
///
/// and divide the difference of two iteration counts' totals by the difference of the counts.
/// The loads match `clusterkit bench`'s rows: 1,024 tasks awaiting confirmed publishes of
/// 100 bytes; one consumer with 200 no-op handlers and prefetch 200 draining a backlog that
/// the raw rabbitmq-c loop filled (no headers, like the bench's).
extension HotPath {
    static let broker: [HotPath] = [
        HotPath(name: "rabbitmq-publish") { iterations in
            let queue = try await brokerQueue()
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
            let remaining = Countdown(iterations)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<1_024 {
                    group.addTask {
                        while remaining.take() { _ = try await queue.publish("hotpath-publish", body) }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await queue.purge("hotpath-publish")
            await queue.close()
            return iterations
        },
        HotPath(name: "rabbitmq-fill") { iterations in
            // The backlog for rabbitmq-consume, written by the raw loop (run it outside valgrind).
            let queue = try await brokerQueue()
            _ = try await queue.purge("hotpath-consume")
            await queue.close()
            try rawLoop(queue: "hotpath:queue:hotpath-consume") { target, result in ck_raw_publish(target, iterations, 512, 100, result) }
            return iterations
        },
        HotPath(name: "rabbitmq-raw-publish-properties") { iterations in
            // The raw loop sending the adapter's older message shape (message ID, five x-ck-*
            // headers, mandatory) to the rabbitmq-consume backlog: the broker's CPU per
            // message of that shape, read from outside (run it outside valgrind).
            let queue = try await brokerQueue()
            _ = try await queue.purge("hotpath-consume")
            await queue.close()
            try rawLoop(queue: "hotpath:queue:hotpath-consume") { target, result in
                ck_raw_publish_with_five_adapter_headers(target, iterations, 512, 100, result)
            }
            return iterations
        },
        HotPath(name: "rabbitmq-raw-consume") { iterations in
            // The reference: the raw loop draining the same backlog (prefetch 200, ack every 50).
            try rawLoop(queue: "hotpath:queue:hotpath-consume") { target, result in ck_raw_consume(target, iterations, 200, 50, result) }
            return iterations
        },
        HotPath(name: "rabbitmq-consume") { iterations in
            let queue = try await brokerQueue()
            let handled = Countdown(iterations)
            let consumer = try await queue.consume("hotpath-consume", options: QueueConsumerOptions(concurrency: 200)) { _ in
                handled.handled()
            }
            // Woken by the last handler: a polling wait would add a timer and two thread
            // wake-ups per millisecond to the client's costs (more per message under valgrind).
            let done = await handled.finished(within: .seconds(600))
            await consumer.stop(drainTimeout: .seconds(10))
            await queue.close()
            guard done else { throw HotPathFailure("only \(iterations - max(0, handled.left)) of \(iterations) handled") }
            return iterations
        },
    ]

    static func brokerURL() throws -> AMQPURL {
        guard let text = ProcessInfo.processInfo.environment["RABBITMQ_URL"] else {
            throw HotPathFailure("the rabbitmq-* paths need RABBITMQ_URL (a running broker)")
        }
        return try ConnectionURL(text).amqp()
    }

    static func brokerQueue() async throws -> RabbitMQMessageQueue {
        var url = try brokerURL()
        url.prefetch = 200
        return try await RabbitMQMessageQueue(settings: RabbitMQConnectionSettings(url: url), appName: "hotpath", nodeID: NodeID("hotpath"))
    }

    static func rawLoop(queue: String, _ body: (UnsafePointer<ck_raw_target>, UnsafeMutablePointer<ck_raw_result>) -> Int32) throws {
        let url = try brokerURL()
        let (status, error) = url.host.withCString { host in
            url.username.withCString { user in
                url.password.withCString { password in
                    url.virtualHost.withCString { vhost in
                        queue.withCString { name in
                            var target = ck_raw_target(host: host, port: Int32(url.port), user: user, password: password,
                                                       vhost: vhost, queue: name, passive: 1, timeout_seconds: 30)
                            var result = ck_raw_result()
                            let status = body(&target, &result)
                            return (status, withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
                        }
                    }
                }
            }
        }
        guard status == 0 else { throw HotPathFailure("raw loop: \(error)") }
    }
}

/// Hands out `count` turns to any number of tasks (``take()``), or counts `count` events
/// down and wakes the one task waiting for the last (``handled()``, ``finished(within:)``).
final class Countdown: Sendable {
    private let remaining: Atomic<Int>
    private let waiter = Mutex<(done: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    init(_ count: Int) { remaining = Atomic(count) }

    func take() -> Bool { remaining.subtract(1, ordering: .relaxed).newValue >= 0 }

    /// What is left to count (negative once counted past zero).
    var left: Int { remaining.load(ordering: .relaxed) }

    func handled() {
        if remaining.subtract(1, ordering: .relaxed).newValue == 0 { finish() }
    }

    private func finish() {
        let continuation = waiter.withLock { state -> CheckedContinuation<Void, Never>? in
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    /// Waits until the count reached zero (true) or `timeout` passed (false).
    func finished(within timeout: Duration) async -> Bool {
        let watchdog = Task {
            try? await Task.sleep(for: timeout)
            finish()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = waiter.withLock { state -> Bool in
                if !state.done { state.continuation = continuation }
                return state.done
            }
            if done { continuation.resume() }
        }
        watchdog.cancel()
        return left <= 0
    }
}
