import ClusterKit
import Foundation

/// How a message is stored as stream-entry fields: `id`, `publishedAt` (ms since 1970,
/// server clock; both absent on an entry published without delay, whose message ID is its
/// entry ID and whose publish time is the entry ID's millisecond part), `body` (raw bytes),
/// `headers` (JSON object), `attempt` (of the entry's first delivery), `maxAttempts`,
/// `timeout` (ns), `backoff` (`initial-ns,multiplier,maximum-ns,jitter`); dead letters add
/// `lastError` and `diedAt`.
///
/// A field whose value is the one in ``Omitted`` (no headers, attempt 1, 3 attempts, 15 s,
/// 100 ms doubling to 30 s with jitter 0.5) is left out, and read back as that value (here
/// and in ``RedisQueueScripts``): a job published with the default options is `body`
/// alone, which makes every step that carries it (the `XADD`, the server's stream, the
/// `XREADGROUP` reply and its decoding) several times smaller.
enum RedisQueueEntry {
    /// The fields a publish sends (without `id` and `publishedAt`).
    static func fields(body: [UInt8], options: QueuePublishOptions) -> [any RedisArgument] {
        ([Name.body, body] + tail(options)).map { $0 as any RedisArgument }
    }

    /// The `XADD <stream> * <fields>` of an undelayed publish.
    static func add(to stream: String, body: [UInt8], options: QueuePublishOptions) -> RedisCommand {
        RedisCommand([xadd, Array(stream.utf8), star, Name.body, body] + tail(options))
    }

    private static let xadd = Array("XADD".utf8)
    private static let star = Array("*".utf8)

    /// The values a field has when it is absent from an entry. Part of the storage format
    /// (entries in Redis outlive a release): fixed here, not taken from
    /// `QueuePublishOptions`'s defaults, which may change.
    enum Omitted {
        static let attempt = 1
        static let maxAttempts = 3
        static let timeout = Duration.seconds(15)
        static let backoff = Backoff(initial: .milliseconds(100), multiplier: 2, maximum: .seconds(30), jitter: 0.5)
    }

    /// Every field after `body` whose value is not the omitted one (`attempt` is always 1
    /// at publish).
    private static func tail(_ options: QueuePublishOptions) -> [[UInt8]] {
        var fields: [[UInt8]] = []
        if !options.headers.isEmpty, let headers = try? JSONEncoder.sorted.encode(options.headers) {
            fields += [Name.headers, Array(headers)]
        }
        if options.maxAttempts != Omitted.maxAttempts { fields += [Name.maxAttempts, Array(String(options.maxAttempts).utf8)] }
        if options.timeout != Omitted.timeout { fields += [Name.timeout, Array(String(nanoseconds(options.timeout)).utf8)] }
        if options.backoff != Omitted.backoff { fields += [Name.backoff, encode(options.backoff)] }
        return fields
    }

    private static let emptyHeaders = Array("{}".utf8)

    private static func encode(_ backoff: Backoff) -> [UInt8] {
        Array("\(nanoseconds(backoff.initial)),\(backoff.multiplier),\(nanoseconds(backoff.maximum)),\(backoff.jitter)".utf8)
    }

    /// Field names as bytes.
    enum Name {
        static let id = Array("id".utf8)
        static let publishedAt = Array("publishedAt".utf8)
        static let body = Array("body".utf8)
        static let headers = Array("headers".utf8)
        static let attempt = Array("attempt".utf8)
        static let maxAttempts = Array("maxAttempts".utf8)
        static let timeout = Array("timeout".utf8)
        static let backoff = Array("backoff".utf8)
        static let lastError = Array("lastError".utf8)
        static let diedAt = Array("diedAt".utf8)
    }

    /// The fields of an entry that a message (or a dead letter) is made of; others are ignored.
    struct Fields {
        var id: [UInt8]?
        var publishedAt: [UInt8]?
        var body: [UInt8]?
        var headers: [UInt8]?
        var attempt: [UInt8]?
        var maxAttempts: [UInt8]?
        var timeout: [UInt8]?
        var backoff: [UInt8]?
        var lastError: [UInt8]?
        var diedAt: [UInt8]?

        init(_ reply: RedisReply) throws(RedisError) {
            let elements = try reply.array()
            var index = 0
            while index + 1 < elements.count {
                if let name = try elements[index].bytes(), let value = try elements[index + 1].bytes() {
                    switch name {
                    case Name.body: body = value
                    case Name.headers: headers = value
                    case Name.attempt: attempt = value
                    case Name.maxAttempts: maxAttempts = value
                    case Name.timeout: timeout = value
                    case Name.backoff: backoff = value
                    case Name.id: id = value
                    case Name.publishedAt: publishedAt = value
                    case Name.lastError: lastError = value
                    case Name.diedAt: diedAt = value
                    default: break
                    }
                }
                index += 2
            }
        }
    }

    /// The message of stream entry `entryID` from its `fields` reply, delivered for the
    /// `deliveries`-th time (delivery count of the group's pending list: each takeover adds
    /// one attempt).
    static func message(queue: String, entryID: String, fields reply: RedisReply, deliveries: Int = 1) throws(RedisError) -> (QueueMessage, Fields) {
        let fields = try Fields(reply)
        func integer(_ value: [UInt8]?, _ name: String) throws(RedisError) -> Int64 {
            guard let value else {
                throw RedisError(code: .protocolError, message: "queue entry without its '\(name)' field")
            }
            guard let number = decimal(value) else {
                throw RedisError(code: .protocolError, message: "queue entry field '\(name)' is not an integer")
            }
            return number
        }
        let headers = fields.headers.flatMap { $0 == emptyHeaders ? nil : try? JSONDecoder().decode([String: String].self, from: Data($0)) } ?? [:]
        let backoff = fields.backoff.map(decodeBackoff) ?? Omitted.backoff
        let attempt = fields.attempt == nil ? Omitted.attempt : Int(try integer(fields.attempt, "attempt"))
        let maxAttempts = fields.maxAttempts == nil ? Omitted.maxAttempts : Int(try integer(fields.maxAttempts, "maxAttempts"))
        let timeout = fields.timeout == nil ? Omitted.timeout : .nanoseconds(try integer(fields.timeout, "timeout"))
        let message = QueueMessage(
            id: QueueMessageID(fields.id.map { String(decoding: $0, as: UTF8.self) } ?? entryID), queue: queue, body: fields.body ?? [], headers: headers,
            attempt: attempt + max(0, deliveries - 1), maxAttempts: maxAttempts, timeout: timeout, backoff: backoff,
            publishedAtMilliseconds: fields.publishedAt == nil ? milliseconds(ofEntryID: entryID) : try integer(fields.publishedAt, "publishedAt"))
        return (message, fields)
    }

    /// `initial-ns,multiplier,maximum-ns,jitter`; ``Omitted/backoff`` when malformed.
    private static func decodeBackoff(_ bytes: [UInt8]) -> Backoff {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ",").map(String.init)
        if parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]),
           let jitter = Double(parts[3]) {
            return Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
        }
        return Omitted.backoff
    }

    /// The millisecond part of a stream entry ID (`<ms>-<seq>`), 0 when malformed. Reads the
    /// UTF-8 bytes: iterating the `String`'s characters cost ~4k instructions per entry.
    static func milliseconds(ofEntryID entryID: String) -> Int64 {
        var value: Int64 = 0
        for byte in entryID.utf8 {
            if byte == UInt8(ascii: "-") { break }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return 0 }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return 0 }
            value = sum
        }
        return value
    }

    /// An optionally signed decimal integer, `nil` when it is not one or overflows.
    static func decimal(_ bytes: [UInt8]) -> Int64? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative || bytes.first == UInt8(ascii: "+") { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        return value
    }

    /// `duration` in whole nanoseconds, clamped to what fits in an `Int64`.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds < 9_000_000_000, seconds > -9_000_000_000 else { return seconds > 0 ? .max : .min }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
