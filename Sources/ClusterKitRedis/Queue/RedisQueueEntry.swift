import ClusterKit
import Foundation

/// How a message is stored as stream-entry fields: `id`, `publishedAt` (ms since 1970,
/// server clock; both absent on an entry published without delay, whose message ID is its
/// entry ID and whose publish time is the entry ID's millisecond part), `body` (raw bytes), `headers` (JSON object), `attempt` (of the entry's
/// first delivery), `maxAttempts`, `timeout` (ns), `backoff` (`initial-ns,multiplier,maximum-ns,jitter`);
/// dead letters add `lastError` and `diedAt`.
enum RedisQueueEntry {
    /// The fields a publish sends (without `id` and `publishedAt`).
    static func fields(body: [UInt8], options: QueuePublishOptions) -> [any RedisArgument] {
        [Name.body, body] + tail(options)
    }

    /// The `XADD <stream> * <fields>` of an undelayed publish. The fields after the body
    /// depend only on the options, so those of the default options are encoded once.
    static func add(to stream: String, body: [UInt8], options: QueuePublishOptions) -> RedisCommand {
        var arguments: [[UInt8]] = [xadd, Array(stream.utf8), star, Name.body, body]
        arguments += options == defaultOptions ? defaultTail : tail(options).map(\.redisBytes)
        return RedisCommand(arguments)
    }

    private static let xadd = Array("XADD".utf8)
    private static let star = Array("*".utf8)
    private static let defaultOptions = QueuePublishOptions()
    private static let defaultTail = tail(defaultOptions).map(\.redisBytes)

    /// Every field after `body`.
    private static func tail(_ options: QueuePublishOptions) -> [[UInt8]] {
        let headers = options.headers.isEmpty ? emptyHeaders
            : (try? JSONEncoder.sorted.encode(options.headers)).map { Array($0) } ?? emptyHeaders
        return [
            Name.headers, headers,
            Name.attempt, Array("1".utf8),
            Name.maxAttempts, Array(String(options.maxAttempts).utf8),
            Name.timeout, Array(String(nanoseconds(options.timeout)).utf8),
            Name.backoff, encode(options.backoff),
        ]
    }

    private static let emptyHeaders = Array("{}".utf8)
    /// The `backoff` field of ``Backoff/standard``, decoded without parsing.
    private static let standardBackoff = encode(.standard)

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
        guard let backoffField = fields.backoff else {
            throw RedisError(code: .protocolError, message: "queue entry without its 'backoff' field")
        }
        let backoff = backoffField == standardBackoff ? Backoff.standard : decodeBackoff(backoffField)
        let message = QueueMessage(
            id: QueueMessageID(fields.id.map { String(decoding: $0, as: UTF8.self) } ?? entryID), queue: queue, body: fields.body ?? [], headers: headers,
            attempt: Int(try integer(fields.attempt, "attempt")) + max(0, deliveries - 1), maxAttempts: Int(try integer(fields.maxAttempts, "maxAttempts")),
            timeout: .nanoseconds(try integer(fields.timeout, "timeout")), backoff: backoff,
            publishedAtMilliseconds: fields.publishedAt == nil ? Int64(entryID.prefix { $0 != "-" }) ?? 0 : try integer(fields.publishedAt, "publishedAt"))
        return (message, fields)
    }

    /// `initial-ns,multiplier,maximum-ns,jitter`; ``Backoff/standard`` when malformed.
    private static func decodeBackoff(_ bytes: [UInt8]) -> Backoff {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ",").map(String.init)
        if parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]),
           let jitter = Double(parts[3]) {
            return Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
        }
        return .standard
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
