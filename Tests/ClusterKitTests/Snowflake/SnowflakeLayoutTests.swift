import ClusterKit
import Testing

@Suite("Snowflake layout")
struct SnowflakeLayoutTests {
    let nocobase = SnowflakeLayout.nocobase

    @Test func nocobaseIsFiftyThreeBitsOfSecondsWorkerAndSequence() {
        #expect(nocobase.epochMilliseconds == 1_605_024_000_000)
        #expect(nocobase.timeUnit == .seconds)
        #expect(nocobase.totalBits == 53)
        #expect(nocobase.timestampBits == 32)
        #expect(nocobase.workerBits == 5)
        #expect(nocobase.sequenceBits == 16)
        #expect(nocobase.maximumWorkerID == 31)
        #expect(nocobase.maximumSequence == 65_535)
    }

    /// `(seconds − 1605024000) · 2^21 + workerId · 2^16 + sequence`, computed by hand.
    @Test func nocobaseKnownVectors() throws {
        // 100 s after the epoch, worker 3, sequence 5: 100·2097152 + 3·65536 + 5.
        #expect(try nocobase.makeID(timestampMilliseconds: 1_605_024_100_000, workerID: 3, sequence: 5) == 209_911_813)
        // Milliseconds within the second do not matter.
        #expect(try nocobase.makeID(timestampMilliseconds: 1_605_024_100_999, workerID: 3, sequence: 5) == 209_911_813)
        // 2024-01-01T00:00:00Z (1704067200 s): 99043200·2097152 + 31·65536 + 65535.
        #expect(try nocobase.makeID(timestampMilliseconds: 1_704_067_200_000, workerID: 31, sequence: 65_535) == 207_708_647_063_551)
        // Worker 0 and sequence 0 at the epoch is ID 0.
        #expect(try nocobase.makeID(timestampMilliseconds: 1_605_024_000_000, workerID: 0, sequence: 0) == 0)
    }

    @Test func nocobaseIDsStayWithinJavaScriptsSafeIntegers() throws {
        let lastSecond = nocobase.epochMilliseconds + (Int64(1) << 32 - 1) * 1000
        let largest = try nocobase.makeID(timestampMilliseconds: lastSecond + 999, workerID: 31, sequence: 65_535)
        #expect(largest == Int64(1) << 53 - 1)
        #expect(throws: SnowflakeError.self) { try nocobase.makeID(timestampMilliseconds: lastSecond + 1000, workerID: 0, sequence: 0) }
    }

    @Test func parseReadsTheFieldsBack() throws {
        #expect(nocobase.parse(209_911_813) == SnowflakeParts(timestamp: 1_605_024_100_000, workerID: 3, sequence: 5))
        #expect(nocobase.parse(207_708_647_063_551) == SnowflakeParts(timestamp: 1_704_067_200_000, workerID: 31, sequence: 65_535))
        #expect(nocobase.parse(209_911_813).date.timeIntervalSince1970 == 1_605_024_100)
        let millisecond = try SnowflakeLayout.milliseconds()
        for _ in 0..<1_000 {
            let parts = SnowflakeParts(timestamp: Int64.random(in: 1_605_024_000_000...1_900_000_000_000),
                                       workerID: Int.random(in: 0...31), sequence: Int.random(in: 0...65_535))
            let id = try millisecond.makeID(timestampMilliseconds: parts.timestamp, workerID: parts.workerID, sequence: parts.sequence)
            #expect(millisecond.parse(id) == parts)
        }
    }

    @Test func millisecondLayoutsFillSixtyThreeBits() throws {
        let layout = try SnowflakeLayout.milliseconds()
        #expect(layout.timeUnit == .milliseconds)
        #expect(layout.totalBits == 63)
        #expect((layout.timestampBits, layout.workerBits, layout.sequenceBits) == (42, 5, 16))
        #expect(layout.epochMilliseconds == SnowflakeLayout.nocobase.epochMilliseconds)
        let twitter = try SnowflakeLayout.milliseconds(epochMilliseconds: 0, workerBits: 10, sequenceBits: 12)
        #expect(twitter.timestampBits == 41)
        let id = try twitter.makeID(timestampMilliseconds: 1_000, workerID: 2, sequence: 7)
        #expect(id == 1_000 << 22 | 2 << 12 | 7)
    }

    @Test func impossibleLayoutsAreRejected() {
        #expect(throws: SnowflakeError.self) { try SnowflakeLayout.milliseconds(workerBits: 30, sequenceBits: 33) }
        #expect(throws: SnowflakeError.self) { try SnowflakeLayout.milliseconds(workerBits: -1, sequenceBits: 12) }
        #expect(throws: SnowflakeError.self) {
            try SnowflakeLayout(epochMilliseconds: 0, timeUnit: .seconds, workerBits: 5, sequenceBits: 16, totalBits: 64)
        }
        #expect(throws: SnowflakeError.self) {
            try SnowflakeLayout(epochMilliseconds: -1, timeUnit: .seconds, workerBits: 5, sequenceBits: 16)
        }
        do {
            _ = try SnowflakeLayout.milliseconds(workerBits: 31, sequenceBits: 32)
            Issue.record("a layout without timestamp bits was accepted")
        } catch {
            #expect(error.code == .invalidLayout)
        }
    }

    @Test func fieldsThatDoNotFitAreRejected() {
        #expect(nocobase.canEncode(workerIDs: 0...31))
        #expect(!nocobase.canEncode(workerIDs: 0...32))
        #expect(throws: SnowflakeError.workerIDOutOfRange(32, maximum: 31)) {
            try nocobase.makeID(timestampMilliseconds: 1_605_024_100_000, workerID: 32, sequence: 0)
        }
        #expect(throws: SnowflakeError.self) { try nocobase.makeID(timestampMilliseconds: 1_605_024_100_000, workerID: 0, sequence: 65_536) }
        do {
            _ = try nocobase.makeID(timestampMilliseconds: 1_605_023_999_999, workerID: 0, sequence: 0)
            Issue.record("a time before the epoch was accepted")
        } catch {
            #expect(error.code == .timestampOverflow)
        }
    }
}
