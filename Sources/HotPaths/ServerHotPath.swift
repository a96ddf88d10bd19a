import ClusterKit
import ClusterKitRedis

/// A hot path that needs a running server: not part of `--list`/`--measure` (the regression
/// check runs without servers), but runnable under a profiler as
/// `clusterkit-hotpaths NAME ITERATIONS URL`. Profile the difference of two iteration
/// counts, as for ``HotPath`` (callgrind counts only this process, not the server).
struct ServerHotPath: Sendable {
    var name: String
    var run: @Sendable (_ url: String, _ iterations: Int) async throws -> Int

    static let all: [ServerHotPath] = [
        // The `clusterkit bench` pub/sub fan-out at a fixed message count: 1 publishing
        // node (50 tasks, 64-byte payloads), 3 subscribed nodes; returns once all three
        // received every message. Iterations = messages published.
        ServerHotPath(name: "redis-pubsub-fanout") { url, iterations in
            let clientConfiguration = try RedisClientConfiguration(parsing: url)
            let configuration = RedisPubSub.Configuration(retention: 5_000_000)
            func node() async throws -> RedisPubSub {
                RedisPubSub(client: try await RedisClient.connect(clientConfiguration),
                            readerClient: try await RedisClient.connect(RedisPubSub.readerConfiguration(for: clientConfiguration,
                                                                                                       blockTime: configuration.blockTime)),
                            appName: "hotpaths", configuration: configuration)
            }
            let publisher = try await node()
            var subscribers: [RedisPubSub] = []
            for _ in 0..<3 { subscribers.append(try await node()) }
            let channel = "fanout-\(UInt32.random(in: 0 ... .max))"
            var subscriptions: [PubSubSubscription] = []
            for subscriber in subscribers {
                subscriptions.append(try await subscriber.subscribe(channel, options: PubSubSubscribeOptions(bufferSize: 10_000_000)))
            }
            let delivered = try await withThrowingTaskGroup(of: Int.self) { group in
                for subscription in subscriptions {
                    group.addTask {
                        var count = 0
                        for await _ in subscription {
                            count += 1
                            if count == iterations { break }
                        }
                        return count
                    }
                }
                let tasks = 50
                try await withThrowingTaskGroup(of: Void.self) { publishers in
                    for task in 0..<tasks {
                        publishers.addTask {
                            let payload = [UInt8](repeating: 0x78, count: 64)
                            for _ in stride(from: task, to: iterations, by: tasks) {
                                try await publisher.publish(channel, payload, options: .init())
                            }
                        }
                    }
                    try await publishers.waitForAll()
                }
                return try await group.reduce(0, +)
            }
            guard delivered == 3 * iterations else {
                throw HotPathFailure("\(delivered) of \(3 * iterations) deliveries arrived")
            }
            let admin = try await RedisClient.connect(clientConfiguration)
            _ = try? await admin.send(RedisCommand("UNLINK", "hotpaths:pubsub:\(channel)"))
            await admin.close()
            await publisher.close()
            for subscriber in subscribers { await subscriber.close() }
            return delivered
        },
    ] + HotPath.redisCacheGetServerPaths
}
