@testable import ClusterKit
import Testing

@Suite("PubSubChannelRules")
struct PubSubChannelRulesTests {
    @Test func theBitSetAllowsExactlyTheDocumentedCharacters() {
        for value in 0...255 {
            let byte = UInt8(value)
            let documented = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || [UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-")].contains(byte)
            #expect(PubSubChannelRules.isAllowed(byte) == documented, "byte \(value)")
        }
    }

    @Test func namesAreCheckedForLengthAndCharacters() {
        #expect(throws: Never.self) { try PubSubChannelRules.validate("roles.changed:v2_x-1") }
        #expect(throws: Never.self) { try PubSubChannelRules.validate(String(repeating: "a", count: 256)) }
        for bad in ["", String(repeating: "a", count: 257), "with space", "slash/", "é", "tab\t", "star*"] {
            #expect(throws: PubSubError.self, "\(bad.debugDescription)") { try PubSubChannelRules.validate(bad) }
        }
    }
}
