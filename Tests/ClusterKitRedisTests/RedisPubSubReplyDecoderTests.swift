import ClusterKit
@testable import ClusterKitRedis
import Testing

/// RESP text of a bulk string.
private func bulk(_ bytes: [UInt8]) -> [UInt8] { Array("$\(bytes.count)\r\n".utf8) + bytes + Array("\r\n".utf8) }
private func bulk(_ text: String) -> [UInt8] { bulk(Array(text.utf8)) }
private func array(_ elements: [[UInt8]]) -> [UInt8] { Array("*\(elements.count)\r\n".utf8) + elements.joined() }
private func entry(_ id: String, _ fields: [String: [UInt8]], order: [String] = ["t", "n", "r", "d"]) -> [UInt8] {
    array([bulk(id), array(order.flatMap { name in fields[name].map { [bulk(name), bulk($0)] } ?? [] })])
}

@Suite("Redis pub/sub reply decoder")
struct RedisPubSubReplyDecoderTests {
    let prefix = "app:pubsub:"

    func xread(_ bytes: [UInt8]) throws(RedisError) -> [RedisPubSubReplyDecoder.Stream] {
        try RedisReplyParser().decode(bytes) { [prefix] raw throws(RedisError) in
            try RedisPubSubReplyDecoder.xread(raw, keyPrefixLength: prefix.utf8.count)
        }
    }

    @Test func decodesStreamsEntriesAndRoutingInOrder() throws {
        let binary: [UInt8] = [0, 13, 10, 255, 36, 42]
        let reply = array([
            array([bulk(prefix + "orders"), array([
                entry("5-1", ["t": Array("tok".utf8), "n": Array("node-a-with-a-long-identifier".utf8), "r": Array("a".utf8), "d": binary]),
                entry("5-2", ["t": Array("tok".utf8), "n": Array("node-a-with-a-long-identifier".utf8), "r": Array("s".utf8), "d": []]),
                entry("6-0", ["n": Array("node-b".utf8), "r": Array("o".utf8), "d": Array("x".utf8)], order: ["d", "r", "n"]),
            ])]),
            array([bulk(prefix + "users"), array([entry("7-0", ["t": [], "n": Array("node-c".utf8), "r": Array("a".utf8), "d": Array("u".utf8)])])]),
        ])
        let streams = try xread(reply)
        #expect(streams.map(\.channel) == ["orders", "users"])
        let orders = streams[0].entries
        #expect(orders.map(\.id.description) == ["5-1", "5-2", "6-0"])
        #expect(orders[0].envelope == PubSubEnvelope(channel: "orders", payload: binary, publisherID: NodeID("node-a-with-a-long-identifier")))
        #expect(orders[1].envelope == PubSubEnvelope(channel: "orders", payload: [], publisherID: NodeID("node-a-with-a-long-identifier"), skipSelf: true))
        #expect(orders[2].envelope == PubSubEnvelope(channel: "orders", payload: Array("x".utf8), publisherID: NodeID("node-b"), onlySelf: true))
        #expect(streams[1].entries.map(\.envelope) == [PubSubEnvelope(channel: "users", payload: Array("u".utf8), publisherID: NodeID("node-c"))])
    }

    @Test func nullReplyIsNoStreams() throws {
        #expect(try xread(Array("*-1\r\n".utf8)).isEmpty)
        #expect(try xread(Array("$-1\r\n".utf8)).isEmpty)
    }

    @Test func entriesThisAdapterDidNotWriteKeepTheirIDButNoEnvelope() throws {
        let reply = array([array([bulk(prefix + "c"), array([
            entry("1-0", ["d": Array("no publisher".utf8)]),
            entry("2-0", ["n": Array("node".utf8)]),
            array([bulk("3-0"), Array("*-1\r\n".utf8)]),
            entry("4-0", ["n": [], "d": Array("empty publisher".utf8)]),
            entry("5-0", ["n": Array("node".utf8), "d": Array("ok".utf8)]),
        ])])])
        let entries = try #require(try xread(reply).first).entries
        #expect(entries.map(\.id.description) == ["1-0", "2-0", "3-0", "4-0", "5-0"])
        #expect(entries.map { $0.envelope?.payload } == [nil, nil, nil, nil, Array("ok".utf8)])
    }

    @Test(arguments: [
        array([bulk("not an array of streams")]),
        Array(":3\r\n".utf8),
        array([array([bulk("app:pubsub:c")])]),
        array([array([Array(":1\r\n".utf8), array([])])]),
        array([array([bulk("app:pubsub:c"), array([array([bulk("not-an-id"), array([])])])])]),
        array([array([bulk("app:pubsub:c"), array([array([bulk("1-0")])])])]),
    ])
    func malformedRepliesThrowProtocolError(_ reply: [UInt8]) {
        #expect(throws: RedisError.self) { try xread(reply) }
        do { _ = try xread(reply) } catch { #expect(error.code == .protocolError) }
    }

    @Test func decodesWhatThePublisherWroteOnARealServer() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let prefix = uniquePrefix("decoder")
        let key = prefix + "c"
        // The writer's own node (publisher-0) and another one (publisher-1).
        let writer = RedisPubSubEntry.Writer(keyPrefix: prefix, retention: 100, publisherID: NodeID("publisher-0"))
        let payloads: [[UInt8]] = [[0, 1, 2, 13, 10], Array(repeating: 0x78, count: 70_000), []]
        for (index, payload) in payloads.enumerated() {
            let envelope = PubSubEnvelope(channel: "c", payload: payload, publisherID: NodeID("publisher-\(index % 2)"),
                                          skipSelf: index == 1)
            let token = RedisPubSubEntry.newTokenBytes()
            #expect(token.count >= 3 && token.contains(UInt8(ascii: ".")))
            try await client.send(writer.xadd(envelope, token: token))
        }
        let entries = try await client.send(RedisCommand("XRANGE", key, "-", "+")) { raw throws(RedisError) in
            try RedisPubSubReplyDecoder.entries(raw, channel: "c")
        }
        #expect(entries.map { $0.envelope?.payload } == payloads)
        #expect(entries.map { $0.envelope?.publisherID.rawValue } == ["publisher-0", "publisher-1", "publisher-0"])
        #expect(entries.map { $0.envelope?.skipSelf } == [false, true, false])
        #expect(entries.map(\.id) == entries.map(\.id).sorted() && Set(entries.map(\.id)).count == 3)
        // An error reply throws like send(_:), without reaching the decoder.
        await #expect(throws: RedisError.self) {
            try await client.send(RedisCommand("XRANGE", key, "not-an-id", "+")) { raw throws(RedisError) in
                try RedisPubSubReplyDecoder.entries(raw, channel: "c")
            }
        }
        _ = try await client.send(RedisCommand("DEL", key))
    }
}
