@testable import ClusterKitRedis
import Testing

@Suite("RedisPubSubEntry tokens")
struct RedisPubSubEntryTests {
    @Test func tokensAreTwoBase36NumbersAndDistinct() {
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let token = RedisPubSubEntry.newToken()
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            #expect(parts.count == 2, "\(token)")
            for part in parts {
                #expect((1...13).contains(part.count), "\(token)")
                #expect(part.allSatisfy { ("0"..."9").contains($0) || ("a"..."z").contains($0) }, "\(token)")
                #expect(part == "0" || !part.hasPrefix("0"), "no leading zeros: \(token)")
                #expect(UInt64(part, radix: 36) != nil, "fits 64 bits: \(token)")
            }
            seen.insert(token)
        }
        #expect(seen.count == 2_000)
    }
}
