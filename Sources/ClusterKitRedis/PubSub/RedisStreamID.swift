/// A Redis stream entry ID (`<milliseconds>-<sequence>`), ordered as Redis orders them.
package struct RedisStreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    package var milliseconds: UInt64
    package var sequence: UInt64

    /// `0-0`: before every entry (reading from it returns the whole stream).
    package static let zero = RedisStreamID(milliseconds: 0, sequence: 0)

    package init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `1700000000000-3`; throws ``RedisError/Code/protocolError`` otherwise.
    /// Parsed straight from the bytes (it runs once per delivered entry: going through a
    /// String and `split` cost ~7k instructions per ID under callgrind).
    package init<Bytes: Collection<UInt8>>(parsing bytes: Bytes) throws(RedisError) {
        var parts: (UInt64, UInt64) = (0, 0)
        var digits = (0, 0)
        var second = false
        var valid = true
        for byte in bytes {
            if byte == UInt8(ascii: "-"), !second {
                second = true
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else {
                valid = false
                break
            }
            let current = second ? parts.1 : parts.0
            let (times, overflowA) = current.multipliedReportingOverflow(by: 10)
            let (value, overflowB) = times.addingReportingOverflow(UInt64(digit))
            guard !overflowA, !overflowB else {
                valid = false
                break
            }
            if second {
                parts.1 = value
                digits.1 += 1
            } else {
                parts.0 = value
                digits.0 += 1
            }
        }
        guard valid, second, digits.0 > 0, digits.1 > 0 else {
            throw RedisError(code: .protocolError, message: "malformed stream entry ID '\(String(decoding: bytes, as: UTF8.self))'")
        }
        self.init(milliseconds: parts.0, sequence: parts.1)
    }

    /// ``init(parsing:)`` for the reader's hot path, bytes straight from a parsed reply:
    /// two plain digit loops (the general version's per-byte state cost ~470 instructions per
    /// ID under callgrind, three IDs per fan-out message). Accepts exactly what it accepts.
    package init(parsing bytes: UnsafeRawBufferPointer) throws(RedisError) {
        var index = 0
        guard let milliseconds = Self.number(bytes, from: &index), index < bytes.count, bytes[index] == UInt8(ascii: "-") else {
            throw Self.malformed(bytes)
        }
        index += 1
        guard let sequence = Self.number(bytes, from: &index), index == bytes.count else { throw Self.malformed(bytes) }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    /// The decimal number of at least one digit at `index` (advanced past it); `nil` when
    /// there is no digit or it overflows 64 bits.
    private static func number(_ bytes: UnsafeRawBufferPointer, from index: inout Int) -> UInt64? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let start = index
        var value: UInt64 = 0
        while index < bytes.count {
            let digit = base[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            // 19 digits always fit 64 bits: only a 20th needs checking.
            if index - start < 19 {
                value = value &* 10 &+ UInt64(digit)
            } else {
                let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(UInt64(digit))
                guard !overflowA, !overflowB else { return nil }
                value = sum
            }
            index += 1
        }
        return index > start ? value : nil
    }

    private static func malformed(_ bytes: UnsafeRawBufferPointer) -> RedisError {
        RedisError(code: .protocolError, message: "malformed stream entry ID '\(String(decoding: bytes, as: UTF8.self))'")
    }

    package static func < (lhs: RedisStreamID, rhs: RedisStreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }

    package var description: String { "\(milliseconds)-\(sequence)" }
}

extension RedisStreamID: RedisArgument {
    /// `<milliseconds>-<sequence>`, digits written straight into the array (the reader
    /// sends one per channel with every `XREAD`).
    package var redisBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 41) { bytes, count in
            count = RedisPubSubEntry.writeDigits(milliseconds, radix: 10, into: bytes, at: 0)
            bytes[count] = UInt8(ascii: "-")
            count += 1
            count += RedisPubSubEntry.writeDigits(sequence, radix: 10, into: bytes, at: count)
        }
    }
}
