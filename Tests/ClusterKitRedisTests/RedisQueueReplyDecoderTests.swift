import ClusterKit
@testable import ClusterKitRedis
import Testing

/// RESP text of a bulk string, a null and an array.
private func bulk(_ text: String) -> [UInt8] { Array("$\(text.utf8.count)\r\n\(text)\r\n".utf8) }
private let null = Array("$-1\r\n".utf8)
private func array(_ elements: [[UInt8]]) -> [UInt8] { Array("*\(elements.count)\r\n".utf8) + elements.joined() }
private func entry(_ id: String, _ fields: [String]) -> [UInt8] { array([bulk(id), array(fields.map(bulk))]) }
private func xreadgroup(_ entries: [[UInt8]]) -> [UInt8] { array([array([bulk("app:queue:jobs"), array(entries)])]) }

/// `RedisQueueReplyDecoder` (the consumer's `XREADGROUP` replies read straight from hiredis's
/// parse) against the `RedisReply` decoding it replaced, on every stored entry format.
@Suite("Redis queue reply decoder")
struct RedisQueueReplyDecoderTests {
    func decode(_ bytes: [UInt8]) throws(RedisError) -> [RedisQueueDelivery] {
        try RedisReplyParser().decode(bytes) { raw throws(RedisError) in try RedisQueueReplyDecoder.xreadgroup(raw, queue: "jobs") }
    }

    /// The same reply decoded the old way: copied into a `RedisReply`, entry by entry.
    func decodeCopied(_ bytes: [UInt8]) throws -> [QueueMessage] {
        guard case .array(let streams) = try RedisReplyParser().reply(bytes), let first = streams.first else { return [] }
        return try first.array()[1].array().map { entry in
            let pair = try entry.array()
            let entryID = String(decoding: try pair[0].bytes() ?? [], as: UTF8.self)
            return try RedisQueueEntry.message(queue: "jobs", entryID: entryID, fields: pair[1]).0
        }
    }

    @Test func everyStoredFormatDecodesAsTheRedisReplyPathDecodedIt() throws {
        let reply = xreadgroup([
            // Published with the default options: the body alone.
            entry("1700000000000-0", ["body", "plain"]),
            // Every option set.
            entry("1700000000001-12", ["body", "custom", "headers", #"{"k":"v"}"#, "maxAttempts", "5", "timeout", "2000000000",
                                       "backoff", "5000000,3.0,1000000000,0.0"]),
            // As earlier versions stored every entry: every field, default values included.
            entry("1700000000002-0", ["body", "full", "headers", "{}", "attempt", "1", "maxAttempts", "3", "timeout", "15000000000",
                                      "backoff", "100000000,2.0,30000000000,0.5"]),
            // Moved in from the delayed set (or a retry): its own ID, publish time and attempt.
            entry("1700000000003-0", ["id", "1699999999000-7", "publishedAt", "1699999999000", "body", "", "attempt", "2",
                                      "unknown", "ignored"]),
            // A field whose value is null is skipped.
            array([bulk("1700000000004-0"), array([bulk("body"), bulk("x"), bulk("headers"), null])]),
        ])
        let decoded = try decode(reply)
        let copied = try decodeCopied(reply)
        #expect(decoded.map(\.message) == copied)
        #expect(decoded.map(\.entryID) == ["1700000000000-0", "1700000000001-12", "1700000000002-0", "1700000000003-0", "1700000000004-0"])
        #expect(decoded.allSatisfy { $0.deliveries == 1 })

        let messages = decoded.map(\.message)
        #expect(messages[0] == QueueMessage(id: QueueMessageID("1700000000000-0"), queue: "jobs", body: Array("plain".utf8), headers: [:],
                                            attempt: 1, maxAttempts: 3, timeout: .seconds(15), backoff: RedisQueueEntry.Omitted.backoff,
                                            publishedAtMilliseconds: 1_700_000_000_000))
        #expect(messages[1].headers == ["k": "v"] && messages[1].maxAttempts == 5 && messages[1].timeout == .seconds(2))
        #expect(messages[1].backoff == Backoff(initial: .milliseconds(5), multiplier: 3, maximum: .seconds(1), jitter: 0))
        #expect(messages[2].body == Array("full".utf8) && messages[2].headers.isEmpty && messages[2].backoff == .standard)
        #expect(messages[3].id == QueueMessageID("1699999999000-7") && messages[3].publishedAtMilliseconds == 1_699_999_999_000)
        #expect(messages[3].attempt == 2 && messages[3].body.isEmpty)
        #expect(messages[4].body == Array("x".utf8) && messages[4].headers.isEmpty)
    }

    @Test func aNullOrEmptyReplyIsNoEntries() throws {
        // A null array: the block timed out, or CLIENT UNBLOCK ended it.
        #expect(try decode(Array("*-1\r\n".utf8)).isEmpty)
        #expect(try decode(array([])).isEmpty)
        #expect(try decode(xreadgroup([])).isEmpty)
    }

    @Test func malformedRepliesThrowProtocolErrors() {
        let malformed: [[UInt8]] = [
            array([bulk("not a stream")]),
            array([array([bulk("app:queue:jobs")])]),
            array([array([bulk("app:queue:jobs"), bulk("not entries")])]),
            xreadgroup([array([bulk("1-0")])]),
            xreadgroup([array([bulk("1-0"), null])]),
            xreadgroup([entry("1-0", ["attempt", "two"])]),
            xreadgroup([array([bulk("1-0"), array([bulk("body"), Array(":5\r\n".utf8)])])]),
        ]
        for bytes in malformed {
            let error = #expect(throws: RedisError.self, "\(String(decoding: bytes, as: UTF8.self))") { try decode(bytes) }
            #expect(error?.code == .protocolError)
        }
    }
}
