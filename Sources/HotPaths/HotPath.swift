import ClusterKit
import ClusterKitRedis
import Synchronization

/// A hot path the regression check counts: `setUp` builds what the path needs (not
/// counted), `run` does the path `iterations` times. `scripts/bench-check.py` runs each under
/// `valgrind --tool=callgrind` at two iteration counts and divides the difference of the
/// instruction and malloc counts by the difference of the iterations, which cancels set-up,
/// process start and runtime initialisation.
struct HotPath: Sendable {
    var name: String
    var run: @Sendable (_ iterations: Int) async throws -> Int

    static let all: [HotPath] = [
        // Shaped like the bench row "memory cache get, 1 task": the get is an async closure,
        // the cache name is built once (a literal in the loop would validate a `CacheName` on
        // every iteration and count that too).
        HotPath(name: "memory-cache-get") { iterations in
            let (store, cache) = (try await memoryCache(), benchCache)
            return try await getLoop(iterations) { key in try await store.get(cache, key) }
        },
        // The bench row's reference in the same loop: a `[String: [UInt8]]` behind a `Mutex`,
        // the ceiling `memory-cache-get` is compared with (in instructions, not time).
        HotPath(name: "memory-cache-get-reference") { iterations in
            let table = Mutex(Dictionary(uniqueKeysWithValues: keys.map { ($0, Array("xxx".utf8)) }))
            return try await getLoop(iterations) { key in table.withLock { $0[key] } }
        },
        HotPath(name: "memory-cache-set") { iterations in
            let (store, cache, keys) = (try await memoryCache(), benchCache, keys)
            let value = Array("xxx".utf8)
            for index in 0..<iterations { try await store.set(cache, keys[index & 1023], value, ttl: nil) }
            return iterations
        },
        HotPath(name: "snowflake-next") { iterations in
            let generator = SnowflakeGenerator(layout: try SnowflakeLayout.milliseconds(), workerID: { 1 })
            var last: Int64 = 0
            for _ in 0..<iterations { last = try await generator.next() }
            return Int(last & 1)
        },
        HotPath(name: "redis-command-build") { iterations in
            // The public part of encoding a command: arguments to byte arrays (the RESP
            // writer itself is internal to ClusterKitRedis).
            let value = Array("xxx".utf8)
            var bytes = 0
            for index in 0..<iterations {
                let command = RedisCommand("SET", "app:cache:bench:" + keys[index & 1023], value, "PX", 30_000)
                bytes += command.arguments.count
            }
            return bytes
        },
        HotPath(name: "pubsub-envelope") { iterations in
            let publisher = NodeID("publisher")
            let receiver = NodeID("receiver")
            let payload = Array("user:42".utf8)
            var delivered = 0
            for _ in 0..<iterations {
                let envelope = try PubSubEnvelope(validating: "profiles.changed", payload: payload, publisherID: publisher, options: .init())
                if envelope.isDeliverable(to: receiver) { delivered += envelope.message(for: receiver).payload.count }
            }
            return delivered
        },
        HotPath(name: "memory-queue-roundtrip") { iterations in
            // publish, receive, acknowledge: the memory queue's envelope in and out.
            let queue = MemoryMessageQueue(backend: MemoryBackend(), appName: "bench", nodeID: NodeID("bench"))
            let body = Array("job".utf8)
            for _ in 0..<iterations {
                _ = try await queue.publish("jobs", body, options: .init())
                guard let delivery = try await queue.receive("jobs", wait: .zero, visibilityTimeout: .seconds(30)) else {
                    throw HotPathFailure("a published job was not received")
                }
                try await queue.acknowledge(delivery)
            }
            await queue.close()
            return iterations
        },
        redisQueueJob,
        redisCacheGet,
        pubsubDispatchBatch,
        HotPath(name: "redis-xread-decode") { iterations in
            // Per delivered entry: hiredis parses an XREAD reply of 100 pub/sub entries
            // (64-byte payloads, as in `clusterkit bench`) and RedisPubSubReplyDecoder turns
            // it into envelopes, as the pub/sub reader does on its connection's thread.
            let parser = RedisReplyParser()
            let reply = xreadReply
            var delivered = 0
            for _ in 0..<iterations / xreadEntries {
                let streams = try parser.decode(reply) { raw throws(RedisError) in
                    try RedisPubSubReplyDecoder.xread(raw, keyPrefixLength: "bench:pubsub:".utf8.count)
                }
                for stream in streams { for entry in stream.entries where entry.envelope != nil { delivered += 1 } }
            }
            return delivered
        },
        HotPath(name: "redis-xread-copy") { iterations in
            // Per entry: the same reply parsed and copied into a RedisReply tree, the generic
            // path of every other command (and of the pub/sub reader before the decoder).
            let parser = RedisReplyParser()
            let reply = xreadReply
            var elements = 0
            for _ in 0..<iterations / xreadEntries {
                elements += try parser.reply(reply).array().count
            }
            return elements
        },
        HotPath(name: "redis-xadd-encode") { iterations in
            // Per publish: a new token, the pub/sub XADD built and encoded into the connection's buffer.
            let envelope = PubSubEnvelope(channel: "bench-1", payload: [UInt8](repeating: 0x78, count: 64),
                                          publisherID: NodeID("vm-123456-1a2b3c4"))
            let writer = RedisPubSubEntry.Writer(keyPrefix: "bench:pubsub:", retention: 10_000, publisherID: envelope.publisherID)
            let buffer = RedisWriteBuffer()
            var bytes = 0
            for _ in 0..<iterations {
                buffer.removeAll()
                buffer.append(writer.xadd(envelope, token: RedisPubSubEntry.newTokenBytes()))
                bytes += buffer.count
            }
            return bytes
        },
    ]

    static let keys = (0..<1024).map { "key:\($0)" }
    static let benchCache: CacheName = "bench"

    /// `iterations` gets cycling through `keys`; returns the hits. `get` is called as an opaque
    /// closure, as in the bench (whose closures pass through `BenchClock`): otherwise the
    /// optimizer would inline it here and drop the closure call the bench pays on both sides.
    static func getLoop(_ iterations: Int, _ get: @escaping @Sendable (String) async throws -> [UInt8]?) async throws -> Int {
        let (keys, get) = (keys, opaque(get))
        var hits = 0
        for index in 0..<iterations where try await get(keys[index & 1023]) != nil { hits += 1 }
        return hits
    }

    /// `value`, through a call the optimizer cannot see into.
    @inline(never) @_optimize(none)
    static func opaque<T>(_ value: T) -> T { value }

    /// Entries per `XREAD` reply in the decode paths (the reader's default `readCount`).
    static let xreadEntries = 100

    /// The RESP bytes of an `XREAD` reply of one stream with ``xreadEntries`` entries as the
    /// pub/sub adapter writes them.
    static let xreadReply: [UInt8] = {
        func bulk(_ bytes: [UInt8]) -> String { "$\(bytes.count)\r\n" + String(decoding: bytes, as: UTF8.self) + "\r\n" }
        func bulk(_ text: String) -> String { bulk(Array(text.utf8)) }
        var text = "*1\r\n*2\r\n" + bulk("bench:pubsub:bench-1") + "*\(xreadEntries)\r\n"
        for index in 0..<xreadEntries {
            text += "*2\r\n" + bulk("1732320000000-\(index)") + "*8\r\n"
            text += bulk("t") + bulk("3w5e11264sgsf.1y2p0ij32e8e7") + bulk("n") + bulk("vm-123456-1a2b3c4")
            text += bulk("r") + bulk("a") + bulk("d") + bulk([UInt8](repeating: 0x78, count: 64))
        }
        return Array(text.utf8)
    }()

    static func memoryCache() async throws -> MemoryCacheStore<ContinuousClock> {
        let store = MemoryCacheStore(backend: MemoryBackend(), appName: "bench", configuration: .init(maximumEntries: 4096))
        for key in keys { try await store.set(benchCache, key, Array("xxx".utf8), ttl: nil) }
        return store
    }
}

struct HotPathFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
