import ClusterKit
import Synchronization

/// How a ``PubSubEnvelope`` is stored as a stream entry: field `t` = a unique publish
/// token (lets a publisher whose connection broke find out whether its entry was added),
/// `n` = publisher node ID, `r` = routing (`s` skipSelf, `o` onlySelf; omitted for the
/// default, every node, which a reader also accepts written as `a`), `d` = the payload as
/// raw bytes (binary-safe bulk string). The channel is the stream's key. Read back by
/// ``RedisPubSubReplyDecoder``.
///
/// The routing field is left out for the default because every field costs on every
/// read: each subscribed node's reader parses it (two reply elements per entry and node)
/// and the server stores and sends it.
package enum RedisPubSubEntry {
    /// Builds a node's `XADD`s (`XADD <key> MAXLEN ~ <retention> * t <token> n <node> [r <routing>]
    /// d <payload>`) from byte arrays prepared once per node, so a publish allocates only
    /// its key, its token and the argument list (going through `[any RedisArgument]`
    /// converted every argument on every publish: ~23k instructions and 18 allocations).
    package struct Writer: Sendable {
        private let keyPrefix: [UInt8]
        private let retention: [UInt8]
        private let publisherID: NodeID
        private let publisher: [UInt8]

        package init(keyPrefix: String, retention: Int, publisherID: NodeID) {
            self.keyPrefix = Array(keyPrefix.utf8)
            self.retention = Array(String(retention).utf8)
            self.publisherID = publisherID
            self.publisher = Array(publisherID.rawValue.utf8)
        }

        /// The `XADD` of `envelope` on its channel's stream.
        package func xadd(_ envelope: PubSubEnvelope, token: [UInt8]) -> RedisCommand {
            var key: [UInt8] = []
            key.reserveCapacity(keyPrefix.count + envelope.channel.utf8.count)
            key += keyPrefix
            key += envelope.channel.utf8
            let publisher = envelope.publisherID == publisherID ? publisher : Array(envelope.publisherID.rawValue.utf8)
            // One array of the 12 or 14 arguments (concatenating the fields' array allocated twice).
            var arguments: [[UInt8]] = []
            arguments.reserveCapacity(14)
            for argument in [Bytes.xadd, key, Bytes.maxlen, Bytes.approximately, retention, Bytes.newID] { arguments.append(argument) }
            RedisPubSubEntry.appendFields(envelope, token: token, publisher: publisher, to: &arguments)
            return RedisCommand(arguments)
        }
    }

    /// The entry's fields and values (the layout described above).
    static func fields(_ envelope: PubSubEnvelope, token: [UInt8], publisher: [UInt8]) -> [[UInt8]] {
        var fields: [[UInt8]] = []
        fields.reserveCapacity(8)
        appendFields(envelope, token: token, publisher: publisher, to: &fields)
        return fields
    }

    private static func appendFields(_ envelope: PubSubEnvelope, token: [UInt8], publisher: [UInt8], to arguments: inout [[UInt8]]) {
        arguments.append(Bytes.token)
        arguments.append(token)
        arguments.append(Bytes.node)
        arguments.append(publisher)
        if envelope.skipSelf || envelope.onlySelf {
            arguments.append(Bytes.routing)
            arguments.append(envelope.skipSelf ? Bytes.skipSelf : Bytes.onlySelf)
        }
        arguments.append(Bytes.payload)
        arguments.append(envelope.payload)
    }

    /// The fields of `envelope` with a text token (for tests).
    static func fields(_ envelope: PubSubEnvelope, token: String) -> [any RedisArgument] {
        fields(envelope, token: Array(token.utf8), publisher: Array(envelope.publisherID.rawValue.utf8))
    }

    /// A new publish token: this process's random 64-bit token prefix and the next number of
    /// its token counter, both in base 36, joined by a dot. Unique among every publish of
    /// every process (two processes share a prefix with probability 2⁻⁶⁴), which is all the
    /// retry's lookup needs: it can only find this publish's own entry.
    ///
    /// No random number is drawn per publish: `UInt64.random` is a `getrandom` system call,
    /// and two per publish were 2 of the client's 2.8 system calls per fan-out message.
    package static func newTokenBytes() -> [UInt8] {
        let number = tokenCounter.add(1, ordering: .relaxed).newValue
        let prefix = tokenPrefix
        return [UInt8](unsafeUninitializedCapacity: prefix.count + maximumBase36Digits) { buffer, count in
            _ = buffer.initialize(from: prefix)
            count = prefix.count
            count += writeDigits(number, radix: 36, into: buffer, at: count)
        }
    }

    /// ``newTokenBytes()`` as text.
    package static func newToken() -> String {
        String(decoding: newTokenBytes(), as: UTF8.self)
    }

    /// The random number all of this process's tokens start with, in base 36, and the dot.
    private static let tokenPrefix: [UInt8] = {
        [UInt8](unsafeUninitializedCapacity: maximumBase36Digits + 1) { buffer, count in
            count = writeDigits(UInt64.random(in: 0 ... .max), radix: 36, into: buffer, at: 0)
            buffer[count] = UInt8(ascii: ".")
            count += 1
        }
    }()

    /// The number of tokens made so far by this process.
    private static let tokenCounter = Atomic<UInt64>(0)

    /// Digits of `UInt64.max` in base 36.
    private static let maximumBase36Digits = 13

    /// Writes `value` in base `radix` (2...36; lower-case letters for digits past 9, no
    /// leading zeros) at `start`; returns the number of digits written.
    @inline(__always)
    static func writeDigits(_ value: UInt64, radix: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var digits = 1
        var probe = value / radix
        while probe > 0 {
            digits += 1
            probe /= radix
        }
        var rest = value
        var index = start + digits
        repeat {
            index -= 1
            let digit = UInt8(truncatingIfNeeded: rest % radix)
            buffer[index] = digit < 10 ? UInt8(ascii: "0") &+ digit : UInt8(ascii: "a") &+ (digit &- 10)
            rest /= radix
        } while rest > 0
        return digits
    }

    /// Constant arguments, shared by every command (no allocation per publish).
    private enum Bytes {
        static let xadd = Array("XADD".utf8)
        static let maxlen = Array("MAXLEN".utf8)
        static let approximately = Array("~".utf8)
        static let newID = Array("*".utf8)
        static let token = Array("t".utf8)
        static let node = Array("n".utf8)
        static let routing = Array("r".utf8)
        static let payload = Array("d".utf8)
        static let skipSelf = Array("s".utf8)
        static let onlySelf = Array("o".utf8)
    }

    /// Returns 1 when one of the newest `ARGV[2]` entries of stream `KEYS[1]` has token
    /// `ARGV[1]` (field `t`, always the first field), else 0. Runs on the server, so
    /// payloads are not transferred.
    static let containsToken = RedisScript("""
        local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])
        for _, entry in ipairs(entries) do
          local fields = entry[2]
          if fields[1] == 't' and fields[2] == ARGV[1] then return 1 end
        end
        return 0
        """)
}
