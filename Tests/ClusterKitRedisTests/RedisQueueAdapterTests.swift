import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Testing

/// Redis-specific queue behaviour beyond the conformance suite.
@Suite("Redis queue adapter", .serialized)
struct RedisQueueAdapterTests {
    private func node(_ appName: String, _ nodeID: String) async throws -> RedisMessageQueue {
        RedisMessageQueue(client: try await makeClient(), appName: appName, nodeID: NodeID(nodeID))
    }

    @Test func aRestartedNodeReplaysItsOwnPendingEntriesAtOnce() async throws {
        let appName = uniquePrefix("replay").replacingOccurrences(of: ":", with: "")
        let crashed = try await node(appName, "worker-1")
        let id = try await crashed.publish("jobs", Array("unfinished".utf8))
        // Taken with a long claim, then the process "dies" without settling it.
        let first = try #require(try await crashed.receive("jobs", wait: .seconds(2), visibilityTimeout: .seconds(60)))
        #expect(first.message.attempt == 1)
        await crashed.close(drainTimeout: .zero)

        let other = try await node(appName, "worker-2")
        let restarted = try await node(appName, "worker-1")
        defer { Task { await other.close(drainTimeout: .zero); await restarted.close(drainTimeout: .zero) } }
        #expect(try await other.receive("jobs", wait: .zero, visibilityTimeout: .seconds(1)) == nil,
                "another node must not take a message whose claim is live")
        let replayed = try #require(try await restarted.receive("jobs", wait: .seconds(2), visibilityTimeout: .seconds(60)),
                                    "the same node ID, restarted, gets its own pending entry back without waiting for the claim")
        #expect(replayed.message.id == id)
        #expect(replayed.message.attempt == 2, "the replay counts as a new attempt")
        try await restarted.acknowledge(replayed)
        #expect(try await restarted.counts("jobs") == QueueCounts())
    }

    @Test func aStaleDeliveryOfTheSameNodeCannotSettleItsRedelivery() async throws {
        let appName = uniquePrefix("stale").replacingOccurrences(of: ":", with: "")
        let queue = try await node(appName, "solo")
        defer { Task { await queue.close(drainTimeout: .zero) } }
        try await queue.publish("jobs", Array("again".utf8))
        let stale = try #require(try await queue.receive("jobs", wait: .seconds(2), visibilityTimeout: .milliseconds(100)))
        let current = try #require(try await queue.receive("jobs", wait: .seconds(3), visibilityTimeout: .seconds(30)))
        #expect(current.message.id == stale.message.id)
        #expect(current.message.attempt == 2)
        await #expect(throws: QueueError.self) { try await queue.acknowledge(stale) }
        #expect(try await queue.extendVisibility(stale, by: .seconds(30)) == false)
        #expect(try await queue.counts("jobs") == QueueCounts(inFlight: 1))
        try await queue.acknowledge(current)
        #expect(try await queue.counts("jobs") == QueueCounts())
    }

    @Test func defaultOptionsAreStoredAsTheBodyAloneAndEveryFieldIsStillRead() async throws {
        let appName = uniquePrefix("fields").replacingOccurrences(of: ":", with: "")
        let queue = try await node(appName, "solo")
        defer { Task { await queue.close(drainTimeout: .zero) } }
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let stream = RedisQueueKeys(appName: appName, queue: "jobs").stream

        let plain = try await queue.publish("jobs", Array("plain".utf8))
        let stored = try await client.send(RedisCommand("XRANGE", stream, plain.rawValue, plain.rawValue)).array()
        #expect(try stored.first?.array().last == .array([.bulk(Array("body".utf8)), .bulk(Array("plain".utf8))]),
                "a job published with the default options is stored as its body alone")
        let custom = QueuePublishOptions(maxAttempts: 5, timeout: .seconds(2),
                                         backoff: Backoff(initial: .milliseconds(5), multiplier: 3, maximum: .seconds(1), jitter: 0),
                                         headers: ["k": "v"])
        try await queue.publish("jobs", Array("custom".utf8), options: custom)
        // Written with every field, as earlier versions stored every entry.
        let full = try await client.send(RedisCommand("XADD", stream, "*", "body", "full", "headers", "{}", "attempt", "1", "maxAttempts", "3",
                                                      "timeout", "15000000000", "backoff", "100000000,2.0,30000000000,0.5"))
        let fullID = String(decoding: try full.bytes() ?? [], as: UTF8.self)

        var seen: [QueueMessage] = []
        for _ in 0..<3 {
            let delivery = try #require(try await queue.receive("jobs", wait: .seconds(2), visibilityTimeout: .seconds(30)))
            seen.append(delivery.message)
            try await queue.acknowledge(delivery)
        }
        let defaults = QueuePublishOptions()
        #expect(seen[0].id == plain && seen[0].body == Array("plain".utf8) && seen[0].headers.isEmpty && seen[0].attempt == 1)
        #expect(seen[0].maxAttempts == defaults.maxAttempts && seen[0].timeout == defaults.timeout && seen[0].backoff == defaults.backoff)
        #expect(seen[1].maxAttempts == 5 && seen[1].timeout == .seconds(2) && seen[1].backoff == custom.backoff && seen[1].headers == ["k": "v"])
        #expect(seen[2].id.rawValue == fullID && seen[2].body == Array("full".utf8) && seen[2].attempt == 1)
        #expect(seen[2].maxAttempts == 3 && seen[2].timeout == .seconds(15) && seen[2].backoff == .standard)
    }

    @Test func theRegistryBuildsADurableQueueOnTheDocumentedKeys() async throws {
        let server = try await RedisServer.shared()
        let appName = uniquePrefix("registry").replacingOccurrences(of: ":", with: "")
        let configuration = try ClusterConfiguration(values: [
            "APP_NAME": appName, "QUEUE_ADAPTER": "redis", "REDIS_URL": server.url(database: 4),
        ])
        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        let resolved = try configuration.resolve(.queue, in: registry)
        #expect(resolved.selectedName == "redis")
        let registration = try registry.registration(for: .queue, named: "redis", variable: "QUEUE_ADAPTER")
        #expect(registration.capabilities == ["durable"])
        #expect(registration.isNetworked)
        let context = AdapterContext(primitive: .queue, adapterName: resolved.selectedName, nodeID: NodeID("node-7"),
                                     configuration: configuration, url: resolved.url, memory: MemoryBackend(), logger: .init(label: "test"))
        let queue = try await registry.makeQueue(context)
        defer { Task { await queue.close(drainTimeout: .zero) } }
        #expect(queue.capabilities.contains(.durable))
        try await queue.publish("mail", Array("hi".utf8), options: .init(headers: ["to": "a@b"]))
        try await queue.publish("mail", Array("later".utf8), options: .init(delay: .seconds(60)))
        let delivery = try #require(try await queue.receive("mail", wait: .seconds(2)))

        let db4 = try await makeClient(server.url(database: 4))
        defer { Task { await db4.close() } }
        let stream = "\(appName):queue:mail"
        #expect(try await db4.send(RedisCommand("XLEN", stream)).integer() == 1, "the stream lives in REDIS_URL's db 4")
        #expect(try await db4.send(RedisCommand("ZCARD", stream + ":delayed")).integer() == 1)
        let pending = try await db4.send(RedisCommand("XPENDING", stream, RedisQueueKeys.group, "-", "+", 10)).array()
        let owner = try pending.first?.array()[1].bytes()
        #expect(owner == Array("node-7".utf8), "the consumer name is the node ID")
        try await queue.acknowledge(delivery)
        #expect(try await db4.send(RedisCommand("XLEN", stream)).integer() == 0, "acknowledged entries are deleted")
    }
}
