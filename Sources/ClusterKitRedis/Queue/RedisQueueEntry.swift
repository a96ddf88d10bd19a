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
        let headers = options.headers.isEmpty ? emptyHeaders
            : (try? JSONEncoder.sorted.encode(options.headers)).map { Array($0) } ?? emptyHeaders
        let backoff = options.backoff
        return [
            "body", body,
            "headers", headers,
            "attempt", "1",
            "maxAttempts", String(options.maxAttempts),
            "timeout", String(nanoseconds(options.timeout)),
            "backoff", "\(nanoseconds(backoff.initial)),\(backoff.multiplier),\(nanoseconds(backoff.maximum)),\(backoff.jitter)",
        ]
    }

    private static let emptyHeaders = Array("{}".utf8)

    /// The message of stream entry `entryID` from its `fields` reply, delivered for the
    /// `deliveries`-th time (delivery count of the group's pending list: each takeover adds
    /// one attempt).
    static func message(queue: String, entryID: String, fields reply: RedisReply, deliveries: Int = 1) throws(RedisError) -> (QueueMessage, [String: [UInt8]]) {
        let elements = try reply.array()
        var fields: [String: [UInt8]] = [:]
        var index = 0
        while index + 1 < elements.count {
            if let name = try elements[index].bytes(), let value = try elements[index + 1].bytes() {
                fields[String(decoding: name, as: UTF8.self)] = value
            }
            index += 2
        }
        func text(_ name: String) throws(RedisError) -> String {
            guard let value = fields[name] else {
                throw RedisError(code: .protocolError, message: "queue entry without its '\(name)' field")
            }
            return String(decoding: value, as: UTF8.self)
        }
        func integer(_ name: String) throws(RedisError) -> Int64 {
            guard let value = Int64(try text(name)) else {
                throw RedisError(code: .protocolError, message: "queue entry field '\(name)' is not an integer")
            }
            return value
        }
        let headers = fields["headers"].flatMap { $0 == emptyHeaders ? nil : try? JSONDecoder().decode([String: String].self, from: Data($0)) } ?? [:]
        let parts = try text("backoff").split(separator: ",").map(String.init)
        let backoff: Backoff
        if parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]),
           let jitter = Double(parts[3]) {
            backoff = Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
        } else {
            backoff = .standard
        }
        let message = QueueMessage(
            id: QueueMessageID(fields["id"].map { String(decoding: $0, as: UTF8.self) } ?? entryID), queue: queue, body: fields["body"] ?? [], headers: headers,
            attempt: Int(try integer("attempt")) + max(0, deliveries - 1), maxAttempts: Int(try integer("maxAttempts")),
            timeout: .nanoseconds(try integer("timeout")), backoff: backoff,
            publishedAtMilliseconds: fields["publishedAt"] == nil ? Int64(entryID.prefix { $0 != "-" }) ?? 0 : try integer("publishedAt"))
        return (message, fields)
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
