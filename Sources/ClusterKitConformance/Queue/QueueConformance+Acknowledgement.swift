import ClusterKit

/// Checklist item 3: success acknowledges, and acknowledged messages never come back.
extension QueueConformance {
    static let acknowledgementCases: [Case] = [
        Case("queue.ack-removes-message", "An acknowledged message never comes back, even after its visibility timeout") { context in
            let node = try await context.makeNode()
            try await node.publish(queueName, bytes("done"), options: publishOptions())
            let delivery = try await receiveOrFail(node, "the published message")
            try await node.acknowledge(delivery)
            try await expectCounts(node, QueueCounts(), "counts after acknowledge")
            let again = try await node.receive(queueName, wait: visibility + .milliseconds(150), visibilityTimeout: visibility)
            try check(again == nil, "an acknowledged message came back: \(String(describing: again?.message))")
        },
        Case("queue.handler-success-acks", "A handler that returns acknowledges: the message is handled once and counts drop to zero") { context in
            let node = try await context.makeNode()
            let seen = Collector<Seen>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { seen.append(Seen($0)) }
            try await node.publish(queueName, bytes("once"), options: publishOptions())
            try await eventually("the handler to run") { seen.count >= 1 }
            // Longer than the consumer's visibility timeout: an unacknowledged message would be back.
            try await Task.sleep(for: claimVisibility + .milliseconds(150))
            try checkEqual(seen.values.map(\.attempt), [1], "attempts the handler saw")
            try await expectCounts(node, QueueCounts(), "counts after the handler returned")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.ack-twice-harmless", "Acknowledging the same delivery twice is harmless") { context in
            let node = try await context.makeNode()
            try await node.publish(queueName, bytes("twice"), options: publishOptions())
            try await node.publish(queueName, bytes("other"), options: publishOptions())
            let delivery = try await receiveOrFail(node, "the first message")
            try await node.acknowledge(delivery)
            try await node.acknowledge(delivery)
            try await expectCounts(node, QueueCounts(waiting: 1), "counts after a double acknowledge (the other message waits)")
            let other = try await receiveOrFail(node, "the untouched second message")
            try checkEqual(other.message.text, "other", "body of the second message")
        },
        Case("queue.stale-delivery-unknown", "After a message was redelivered to another consumer, the old delivery's acknowledge and reject fail with unknownDelivery and change nothing") { context in
            let (first, second) = try await (context.makeNode(), context.makeNode())
            try await first.publish(queueName, bytes("contested"), options: publishOptions())
            let stale = try await receiveOrFail(first, visibilityTimeout: .milliseconds(200), "the first delivery")
            let current = try await receiveOrFail(second, wait: .seconds(5), "the redelivery after the visibility timeout")
            try checkEqual(current.message.id, stale.message.id, "redelivered message ID")
            try checkEqual(current.message.attempt, 2, "attempt of the redelivery")
            let isUnknown: (QueueError) -> Bool = { $0.code == .unknownDelivery }
            try await checkThrows(QueueError.self, "acknowledge with the stale delivery", where: isUnknown) {
                try await first.acknowledge(stale)
            }
            try await checkThrows(QueueError.self, "reject with the stale delivery", where: isUnknown) {
                try await first.reject(stale, reason: "stale")
            }
            try await expectCounts(second, QueueCounts(inFlight: 1), "counts while the new owner holds it")
            try await second.acknowledge(current)
            try await expectCounts(second, QueueCounts(), "counts after the new owner acknowledged")
        },
    ]
}
