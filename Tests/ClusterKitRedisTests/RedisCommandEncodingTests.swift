@testable import ClusterKitRedis
import Testing

/// The RESP bytes a command is written as (what hiredis's `redisFormatCommandArgv` makes).
@Suite("Redis command encoding")
struct RedisCommandEncodingTests {
    private func encoded(_ command: RedisCommand) -> String {
        var buffer: [UInt8] = []
        command.encode(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func aCommandIsAnArrayOfBulkStrings() {
        #expect(encoded(RedisCommand("GET", "hot:cache:bench:key")) == "*2\r\n$3\r\nGET\r\n$19\r\nhot:cache:bench:key\r\n")
        #expect(encoded(RedisCommand("PING")) == "*1\r\n$4\r\nPING\r\n")
        #expect(encoded(RedisCommand(["SET".utf8.map { $0 }, [0, 13, 10, 255], []])) == "*3\r\n$3\r\nSET\r\n$4\r\n\u{0}\r\n\u{FFFD}\r\n$0\r\n\r\n")
    }

    @Test func countsAndLengthsAtDigitBoundaries() {
        for count in [1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345] {
            let command = RedisCommand([Array("X".utf8)] + Array(repeating: [], count: count - 1))
            #expect(encoded(command).hasPrefix("*\(count)\r\n$1\r\nX\r\n"))
            let long = RedisCommand([Array(repeating: UInt8(ascii: "a"), count: count)])
            #expect(encoded(long) == "*1\r\n$\(count)\r\n\(String(repeating: "a", count: count))\r\n")
        }
    }

    @Test func decimalsMatchStringForEdgeValues() {
        for value in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 1 << 32, Int.max / 10, Int.max - 1, Int.max] {
            var buffer: [UInt8] = [UInt8(ascii: "#")]
            RedisCommand.appendDecimal(value, to: &buffer)
            #expect(String(decoding: buffer, as: UTF8.self) == "#\(value)")
        }
    }
}
