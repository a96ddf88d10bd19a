@testable import ClusterKitRedis
import Testing

@Suite("Redis raw replies (hiredis parsing into the flat arena)")
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
