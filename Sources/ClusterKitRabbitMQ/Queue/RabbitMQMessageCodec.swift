import ClusterKit

/// How a ``QueueMessage`` travels as AMQP properties: the message ID in `message-id`, the
/// rest in headers (`x-ck-*` for the queue's own fields, `h:<key>` for application headers).
enum RabbitMQMessageCodec {
    static let attemptKey = "x-ck-attempt"
    static let errorKey = "x-ck-error"
    static let diedKey = "x-ck-died-ms"

    static func outgoing(_ message: QueueMessage, exchange: String, routingKey: String, extra: [(String, String)] = []) -> AMQPOutgoing {
        var headers: [(String, String)] = [
            (attemptKey, String(message.attempt)),
            ("x-ck-max-attempts", String(message.maxAttempts)),
            ("x-ck-timeout-ns", String(nanoseconds(message.timeout))),
            ("x-ck-backoff", "\(nanoseconds(message.backoff.initial)),\(message.backoff.multiplier),\(nanoseconds(message.backoff.maximum)),\(message.backoff.jitter)"),
            ("x-ck-published-ms", String(message.publishedAtMilliseconds)),
        ]
        headers += message.headers.sorted { $0.key < $1.key }.map { ("h:" + $0.key, $0.value) }
        headers += extra
        return AMQPOutgoing(exchange: exchange, routingKey: routingKey, mandatory: true, messageID: message.id.rawValue,
                            headers: headers, body: message.body)
    }

    /// The message as a handler sees it. A message the broker redelivers (its holder's
    /// connection ended, or its visibility timeout passed) counts as the next attempt.
    static func message(_ incoming: AMQPIncoming, queue: String) -> QueueMessage {
        let fields = incoming.headers
        let attempt = (Int(fields[attemptKey] ?? "") ?? 1) + (incoming.redelivered ? 1 : 0)
        var headers: [String: String] = [:]
        for (key, value) in fields where key.hasPrefix("h:") { headers[String(key.dropFirst(2))] = value }
        var backoff = Backoff.standard
        let parts = (fields["x-ck-backoff"] ?? "").split(separator: ",")
        if parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]), let jitter = Double(parts[3]) {
            backoff = Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
        }
        return QueueMessage(
            id: QueueMessageID(incoming.messageID), queue: queue, body: incoming.body, headers: headers,
            attempt: attempt, maxAttempts: max(1, Int(fields["x-ck-max-attempts"] ?? "") ?? 1),
            timeout: .nanoseconds(Int64(fields["x-ck-timeout-ns"] ?? "") ?? 15_000_000_000),
            backoff: backoff, publishedAtMilliseconds: Int64(fields["x-ck-published-ms"] ?? "") ?? 0)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : product &+ attoseconds / 1_000_000_000
    }
}
