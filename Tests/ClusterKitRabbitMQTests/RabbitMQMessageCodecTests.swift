import ClusterKit
@testable import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Testing

/// The lean message format: fields equal to their defaults are not sent, absent fields
/// read as the defaults, and messages in the older five-header format still decode.
@Suite("RabbitMQ message codec")
struct RabbitMQMessageCodecTests {
    typealias Codec = RabbitMQMessageCodec

    func message(attempt: Int = 1, options: QueuePublishOptions = QueuePublishOptions(), published: Int64 = 1_700_000_000_123) -> QueueMessage {
        QueueMessage(id: QueueMessageID("m-1"), queue: "jobs", body: Array("body".utf8), headers: options.headers, attempt: attempt,
                     maxAttempts: options.maxAttempts, timeout: options.timeout, backoff: options.backoff,
                     publishedAtMilliseconds: published)
    }

    func incoming(_ headers: [(String, AMQPFieldValue)], redelivered: Bool = false) -> AMQPIncoming {
        AMQPIncoming(deliveryTag: 1, redelivered: redelivered, messageID: "m-1",
                     headers: Dictionary(headers, uniquingKeysWith: { _, last in last }), body: Array("body".utf8))
    }

    @Test func aMessageWithDefaultOptionsCarriesOnlyItsPublishTime() {
        let outgoing = Codec.outgoing(message(), exchange: "", routingKey: "jobs")
        #expect(outgoing.headers.map(\.0) == [Codec.publishedKey])
        #expect(outgoing.headers.first?.1 == .int(1_700_000_000_123))
        #expect(outgoing.mandatory)
    }

    @Test func aLeanMessageDecodesToTheDefaults() {
        let defaults = QueuePublishOptions()
        let decoded = Codec.message(incoming(Codec.outgoing(message(), exchange: "", routingKey: "jobs").headers), queue: "jobs")
        #expect(decoded == message())
        #expect(decoded.attempt == 1)
        #expect(decoded.maxAttempts == defaults.maxAttempts)
        #expect(decoded.timeout == defaults.timeout)
        #expect(decoded.backoff == defaults.backoff)
        #expect(decoded.publishedAtMilliseconds == 1_700_000_000_123)
    }

    @Test func onlyFieldsThatDifferFromTheDefaultsAreSentAndTheyRoundTrip() {
        let options = QueuePublishOptions(maxAttempts: 7, timeout: .milliseconds(250), backoff: Backoff(initial: .milliseconds(5), jitter: 0),
                                          headers: ["tenant": "a"])
        let original = message(attempt: 4, options: options)
        let outgoing = Codec.outgoing(original, exchange: "", routingKey: "jobs")
        #expect(Set(outgoing.headers.map(\.0)) == [Codec.attemptKey, Codec.maxAttemptsKey, Codec.timeoutKey, Codec.backoffKey,
                                                    Codec.publishedKey, "h:tenant"])
        #expect(Codec.message(incoming(outgoing.headers), queue: "jobs") == original)

        let onlyTimeout = Codec.outgoing(message(options: QueuePublishOptions(timeout: .seconds(2))), exchange: "", routingKey: "jobs")
        #expect(onlyTimeout.headers.map(\.0) == [Codec.timeoutKey, Codec.publishedKey])
    }

    @Test func anOldFiveHeaderMessageStillDecodes() {
        // As every earlier version wrote them: all five fields, as integers…
        let integers: [(String, AMQPFieldValue)] = [
            (Codec.attemptKey, .int(2)), (Codec.maxAttemptsKey, .int(5)), (Codec.timeoutKey, .int(3_000_000_000)),
            (Codec.backoffKey, .string("50000000,3.0,9000000000,0.25")), (Codec.publishedKey, .int(1_600_000_000_000)), ("h:k", .string("v")),
        ]
        // …and, before that, as text.
        let texts: [(String, AMQPFieldValue)] = integers.map { ($0.0, .string($0.1.text)) }
        for headers in [integers, texts] {
            let decoded = Codec.message(incoming(headers), queue: "jobs")
            #expect(decoded.attempt == 2)
            #expect(decoded.maxAttempts == 5)
            #expect(decoded.timeout == .seconds(3))
            #expect(decoded.backoff == Backoff(initial: .milliseconds(50), multiplier: 3, maximum: .seconds(9), jitter: 0.25))
            #expect(decoded.publishedAtMilliseconds == 1_600_000_000_000)
            #expect(decoded.headers == ["k": "v"])
        }
        // An old message whose max attempts was 1 keeps it (not the new default of 3).
        let single = Codec.message(incoming([(Codec.attemptKey, .int(1)), (Codec.maxAttemptsKey, .int(1)), (Codec.publishedKey, .int(9))]),
                                   queue: "jobs")
        #expect(single.maxAttempts == 1)
    }

    @Test func aMessageFromAnotherClientKeepsTheForeignDefaults() {
        let decoded = Codec.message(incoming([]), queue: "jobs")
        #expect(decoded.maxAttempts == 1)
        #expect(decoded.publishedAtMilliseconds == 0)
        #expect(Codec.message(incoming([], redelivered: true), queue: "jobs").attempt == 2)
    }

    @Test func aMessageFromAnotherClientWithItsOwnHeadersKeepsTheForeignDefaults() {
        // Headers, but none of ours: not a lean message of ours, so no retries by default.
        let decoded = Codec.message(incoming([("content-source", .string("billing")), ("retries", .int(5))]), queue: "jobs")
        #expect(decoded.maxAttempts == 1)
        #expect(decoded.publishedAtMilliseconds == 0)
        #expect(decoded.attempt == 1)
    }

    @Test func aRedeliveredLeanMessageCountsAsTheNextAttempt() {
        let headers = Codec.outgoing(message(), exchange: "", routingKey: "jobs").headers
        #expect(Codec.message(incoming(headers, redelivered: true), queue: "jobs").attempt == 2)
    }

    @Test func aResentCopyCarriesTheNextAttempt() {
        let lean = Codec.nextAttempt(Codec.outgoing(message(), exchange: "", routingKey: "jobs").headers)
        #expect(Codec.message(incoming(lean), queue: "jobs").attempt == 2)
        #expect(Codec.message(incoming(lean), queue: "jobs").publishedAtMilliseconds == 1_700_000_000_123)
        let third = Codec.nextAttempt(Codec.outgoing(message(attempt: 3), exchange: "", routingKey: "jobs").headers)
        #expect(third.filter { $0.0 == Codec.attemptKey }.map(\.1) == [.int(4)])
        #expect(Codec.message(incoming(third), queue: "jobs").attempt == 4)
    }

    /// Through a real broker: a message published with default options is retried with its
    /// attempt count and dead-lettered after the default max attempts, keeping its publish
    /// time.
    @Test func aRetriedLeanMessageCarriesItsAttemptCountThroughTheBroker() async throws {
        let node = try await makeRabbitMQNode(appName: "codec-\(UInt32.random(in: 0 ... .max))")
        let queue = "lean"
        let before = RabbitMQMessageQueue.wallClockMilliseconds()
        let id = try await node.publish(queue, Array("x".utf8))
        let defaults = QueuePublishOptions()
        var published: Int64?
        for expected in 1 ... defaults.maxAttempts {
            let delivery = try #require(try await node.receive(queue, wait: .seconds(20), visibilityTimeout: .seconds(30)))
            #expect(delivery.message.id == id)
            #expect(delivery.message.attempt == expected)
            #expect(delivery.message.maxAttempts == defaults.maxAttempts)
            #expect(delivery.message.timeout == defaults.timeout)
            #expect(delivery.message.backoff == defaults.backoff)
            #expect(delivery.message.publishedAtMilliseconds >= before)
            if let published { #expect(delivery.message.publishedAtMilliseconds == published) }
            published = delivery.message.publishedAtMilliseconds
            try await node.reject(delivery, reason: "failed \(expected)")
        }
        let letters = try await node.deadLetters(queue, limit: 10)
        #expect(letters.count == 1)
        #expect(letters.first?.message.attempt == defaults.maxAttempts)
        #expect(letters.first?.lastError == "failed \(defaults.maxAttempts)")
        #expect(letters.first?.message.publishedAtMilliseconds == published)
        await node.close()
    }
}
