/// The text form of cache counters: a 64-bit signed integer in decimal ASCII, exactly as
/// Redis `INCRBY` reads and writes it — optional `-`, digits, no `+`, no leading zeros (except
/// "0" itself), no "-0", no spaces. So bytes "5" set by anyone can be incremented, and an
/// incremented value reads back as bytes "6" (also valid JSON for the typed API).
enum CacheDecimal {
    /// The integer spelled by `bytes`, or `nil` if they are not a canonical 64-bit decimal.
    static func parse(_ bytes: [UInt8]) -> Int64? {
        let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9"), minus = UInt8(ascii: "-")
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        if bytes == [zero] { return 0 }
        let negative = bytes[0] == minus
        let digits = negative ? bytes.dropFirst() : bytes[...]
        guard let first = digits.first, first != zero else { return nil }
        // Accumulate towards the negative side: Int64.min has no positive counterpart.
        var value: Int64 = 0
        for byte in digits {
            guard byte >= zero, byte <= nine else { return nil }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.subtractingReportingOverflow(Int64(byte - zero))
            if overflowA || overflowB { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    static func encode(_ value: Int64) -> [UInt8] {
        Array(String(value).utf8)
    }
}
