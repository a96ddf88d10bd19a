import ClusterKit
import Synchronization

/// How a ``QueueMessage`` travels as AMQP properties: the message ID in `message-id`, the
/// rest in headers (`x-ck-*` for the queue's own fields, `h:<key>` for application headers).
///
/// The numeric fields (`x-ck-attempt`, `x-ck-max-attempts`, `x-ck-timeout-ns`,
/// `x-ck-published-ms`, `x-ck-died-ms`) are written as AMQP 64-bit integers, which costs no
/// number formatting per publish; `x-ck-backoff` stays the text
/// `initial-ns,multiplier,maximum-ns,jitter`. Messages written before (every field as
/// text) are read the same, and so are these by a reader that expects text: it gets the
/// integers in decimal.
///
/// Lean format: a field equal to its value in ``QueueWireDefaults`` (attempt 1, 3 attempts,
/// 15 s, 100 ms doubling to 30 s with jitter 0.5) is not written, so a message published with
/// default options carries `x-ck-published-ms` alone (each header costs the broker CPU per
/// message). A message with any `x-ck-*` header is ours and its absent fields mean those
/// defaults; every older message (all five headers) decodes as before. A message without
/// any `x-ck-*` header was published by another client and keeps the foreign defaults (one
/// attempt, publish time 0), whatever other headers it has.
enum RabbitMQMessageCodec {
    static let attemptKey = "x-ck-attempt"
    static let maxAttemptsKey = "x-ck-max-attempts"
    static let timeoutKey = "x-ck-timeout-ns"
    static let backoffKey = "x-ck-backoff"
    static let publishedKey = "x-ck-published-ms"
    static let errorKey = "x-ck-error"
    static let diedKey = "x-ck-died-ms"

    static func outgoing(_ message: QueueMessage, exchange: String, routingKey: String, extra: [(String, AMQPFieldValue)] = []) -> AMQPOutgoing {
        var headers: [(String, AMQPFieldValue)] = []
        headers.reserveCapacity(5 + message.headers.count + extra.count)
        if message.attempt != QueueWireDefaults.attempt { headers.append((attemptKey, .int(Int64(message.attempt)))) }
        if message.maxAttempts != defaultMaxAttempts { headers.append((maxAttemptsKey, .int(Int64(message.maxAttempts)))) }
        let timeout = nanoseconds(message.timeout)
        if timeout != defaultTimeoutNanoseconds { headers.append((timeoutKey, .int(timeout))) }
        if message.backoff != defaultBackoff { headers.append((backoffKey, .string(backoffText(message.backoff)))) }
        // Always written: it carries the publish time, and it marks the message as ours.
        headers.append((publishedKey, .int(message.publishedAtMilliseconds)))
        if !message.headers.isEmpty {
            for (key, value) in message.headers.sorted(by: { $0.key < $1.key }) { headers.append(("h:" + key, .string(value))) }
        }
        headers += extra
        return AMQPOutgoing(exchange: exchange, routingKey: routingKey, mandatory: true, messageID: message.id.rawValue,
                            headers: headers, body: message.body)
    }

    /// The message as a handler sees it. A message the broker redelivers (its holder's
    /// connection ended, or its visibility timeout passed) counts as the next attempt.
    static func message(_ incoming: AMQPIncoming, queue: String) -> QueueMessage {
        let fields = incoming.headers
        guard !fields.isEmpty else {
            // A message published without our headers (by another client): the defaults.
            return QueueMessage(id: QueueMessageID(incoming.messageID), queue: queue, body: incoming.body, headers: [:],
                                attempt: 1 + (incoming.redelivered ? 1 : 0), maxAttempts: 1, timeout: .nanoseconds(defaultTimeoutNanoseconds),
                                backoff: .standard, publishedAtMilliseconds: 0)
        }
        // Ours when it carries any x-ck-* header (ours always carry the publish time); a
        // foreign message that merely has headers keeps the foreign defaults: absent fields
        // mean the lean format's defaults only in our own messages.
        let ours = fields[publishedKey] != nil || fields.keys.contains { $0.hasPrefix("x-ck-") }
        let attempt = Int(fields[attemptKey]?.integer ?? Int64(QueueWireDefaults.attempt)) + (incoming.redelivered ? 1 : 0)
        var headers: [String: String] = [:]
        for (key, value) in fields where key.hasPrefix("h:") { headers[String(key.dropFirst(2))] = value.text }
        return QueueMessage(
            id: QueueMessageID(incoming.messageID), queue: queue, body: incoming.body, headers: headers,
            attempt: attempt, maxAttempts: max(1, Int(fields[maxAttemptsKey]?.integer ?? (ours ? Int64(defaultMaxAttempts) : 1))),
            timeout: .nanoseconds(fields[timeoutKey]?.integer ?? defaultTimeoutNanoseconds),
            backoff: fields[backoffKey].map { backoff($0.text) } ?? (ours ? defaultBackoff : .standard),
            publishedAtMilliseconds: fields[publishedKey]?.integer ?? 0)
    }

    /// `headers` of an outgoing message, as the next attempt: its attempt count plus one
    /// (a lean first attempt has no attempt header: it becomes attempt 2).
    static func nextAttempt(_ headers: [(String, AMQPFieldValue)]) -> [(String, AMQPFieldValue)] {
        guard let index = headers.firstIndex(where: { $0.0 == attemptKey }) else { return [(attemptKey, .int(2))] + headers }
        var headers = headers
        headers[index].1 = .int((headers[index].1.integer ?? 1) + 1)
        return headers
    }

    /// The values a lean message leaves out and a reader assumes for our messages:
    /// ``QueueWireDefaults``, part of the wire format (messages wait in the broker across
    /// upgrades), so not taken from ``QueuePublishOptions``'s defaults, which may change.
    static let defaultMaxAttempts = QueueWireDefaults.maxAttempts
    static let defaultTimeoutNanoseconds: Int64 = nanoseconds(QueueWireDefaults.timeout)
    static let defaultBackoff = QueueWireDefaults.backoff

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : product &+ attoseconds / 1_000_000_000
    }

    // MARK: Backoff

    /// The last backoff written and its text: publishes almost always share one backoff,
    /// and formatting its two `Double`s is the costliest part of the headers.
    private static let lastBackoff = Mutex<(Backoff, String)?>(nil)

    static func backoffText(_ backoff: Backoff) -> String {
        if let (cached, text) = lastBackoff.withLock({ $0 }), cached == backoff { return text }
        let text = "\(nanoseconds(backoff.initial)),\(backoff.multiplier),\(nanoseconds(backoff.maximum)),\(backoff.jitter)"
        lastBackoff.withLock { $0 = (backoff, text) }
        return text
    }

    /// The last backoff text read and its value (parsing two `Double`s per delivery is
    /// not free either).
    private static let lastBackoffRead = Mutex<(String, Backoff)?>(nil)

    static func backoff(_ text: String) -> Backoff {
        if let (cached, backoff) = lastBackoffRead.withLock({ $0 }), cached == text { return backoff }
        let backoff = parseBackoff(text)
        lastBackoffRead.withLock { $0 = (text, backoff) }
        return backoff
    }

    private static func parseBackoff(_ text: String) -> Backoff {
        let parts = text.split(separator: ",")
        guard parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]),
              let jitter = Double(parts[3]) else { return .standard }
        return Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
    }
}
