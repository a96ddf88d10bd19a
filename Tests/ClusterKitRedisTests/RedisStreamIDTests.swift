@testable import ClusterKitRedis
import Testing

@Suite("Redis stream IDs")
struct RedisStreamIDTests {
    @Test(arguments: [("1700000000000-3", 1_700_000_000_000, 3), ("0-0", 0, 0), ("18446744073709551615-18446744073709551615", UInt64.max, UInt64.max)])
    func parsesValidIDs(_ text: String, _ milliseconds: UInt64, _ sequence: UInt64) throws {
        let id = try RedisStreamID(parsing: Array(text.utf8))
        #expect(id == RedisStreamID(milliseconds: milliseconds, sequence: sequence))
        #expect(id.description == text)
    }

    @Test(arguments: ["", "-", "12", "12-", "-3", "1-2-3", "a-1", "1-b", " 1-2", "18446744073709551616-0", "1--2"])
    func rejectsMalformedIDs(_ text: String) {
        #expect(throws: RedisError.self) { try RedisStreamID(parsing: Array(text.utf8)) }
    }

    /// The reader parses IDs from reply bytes (`UnsafeRawBufferPointer`), a separate loop:
    /// it must accept and reject exactly what the general parser does.
    @Test(arguments: ["1700000000000-3", "0-0", "18446744073709551615-18446744073709551615", "007-08",
                      "", "-", "12", "12-", "-3", "1-2-3", "a-1", "1-b", " 1-2", "1-2 ", "18446744073709551616-0",
                      "0-18446744073709551616", "1--2"])
    func rawBytesParseLikeTheGeneralParser(_ text: String) {
        let general = try? RedisStreamID(parsing: Array(text.utf8))
        let raw = Array(text.utf8).withUnsafeBytes { bytes in try? RedisStreamID(parsing: bytes) }
        #expect(raw == general, "\(text.debugDescription)")
    }

    @Test func ordersLikeRedis() throws {
        let ids = try ["5-1", "4-9", "5-0", "10-0"].map { try RedisStreamID(parsing: Array($0.utf8)) }
        #expect(ids.sorted().map(\.description) == ["4-9", "5-0", "5-1", "10-0"])
    }
}
