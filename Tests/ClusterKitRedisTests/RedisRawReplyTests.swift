@testable import ClusterKitRedis
import Testing

@Suite("Redis raw replies (RESP parsed into the flat arena)")
struct RedisRawReplyTests {
    /// RESP of a reply with every type, nesting, empty and nil arrays, and more nodes and
    /// bytes than the arena starts with (so it grows while parsing).
    static let mixed: [UInt8] = {
        var items: [String] = []
        for index in 0..<300 {
            let inner = ["$\(String(index).utf8.count)\r\n\(index)\r\n", ":\(index * 7 - 1000)\r\n", "+OK\r\n", "-ERR no \(index)\r\n",
                         "$-1\r\n", "*-1\r\n", "*0\r\n", "*2\r\n*1\r\n$3\r\nabc\r\n$0\r\n\r\n"]
            items.append("*\(inner.count)\r\n" + inner.joined())
        }
        items.append("$5000\r\n" + String(repeating: "x", count: 5000) + "\r\n")
        return Array(("*\(items.count)\r\n" + items.joined()).utf8)
    }()

    @Test func flatReplyMatchesHiredisTree() throws {
        let parser = RedisReplyParser()
        let tree = try parser.reply(Self.mixed)
        // Parsed several times with one parser: the arena is reused, the result stays the same.
        for _ in 0..<3 {
            let flat = try parser.decode(Self.mixed) { raw throws(RedisError) in raw.copied }
            #expect(flat == tree)
        }
        let elements = try tree.array()
        #expect(elements.count == 301)
        #expect(try elements[299].array()[1] == .integer(299 * 7 - 1000))
    }

    /// A reply that arrives in pieces (as over several reads of the socket) parses to the
    /// same value wherever it is cut: in a type byte, a length, a bulk string or its CRLF.
    @Test func replyArrivingInPiecesParsesTheSame() throws {
        let tree = try RedisReplyParser().reply(Self.mixed)
        let bytes = Self.mixed
        for cuts in [[1], [2, 3], [bytes.count / 2], [bytes.count - 1], Array(stride(from: 7, to: bytes.count, by: 997)),
                     Array(stride(from: 1, to: 600, by: 1))] {
            var chunks: [[UInt8]] = []
            var start = 0
            for cut in cuts where cut > start {
                chunks.append(Array(bytes[start..<cut]))
                start = cut
            }
            chunks.append(Array(bytes[start...]))
            let parsed = try RedisReplyParser().decode(arrivingIn: chunks) { raw throws(RedisError) in raw.copied }
            #expect(parsed == tree, "cut at \(cuts.prefix(4))…")
        }
        // Still incomplete after every piece: an error, not a reply.
        #expect(throws: RedisError.self) {
            try RedisReplyParser().decode(arrivingIn: [Array(bytes[..<10]), Array(bytes[10..<20])]) { $0.count }
        }
    }

    @Test func subscriptAndElementsAgree() throws {
        let counts = try RedisReplyParser().decode(Self.mixed) { raw throws(RedisError) -> [Bool] in
            raw.elements.enumerated().map { position, element in
                raw[position]?.copied == element.copied && element.count == (position < 300 ? 8 : 0)
            }
        }
        #expect(counts.count == 301 && counts.allSatisfy { $0 })
    }

    @Test func malformedOrPartialBytesThrow() {
        #expect(throws: RedisError.self) { try RedisReplyParser().decode(Array("*2\r\n:1\r\n".utf8)) { $0.count } }
        #expect(throws: RedisError.self) { try RedisReplyParser().decode(Array("?what\r\n".utf8)) { $0.count } }
        #expect(throws: RedisError.self) { try RedisReplyParser().decode(Array(":1\r\n:2\r\n".utf8)) { $0.count } }
    }
}
