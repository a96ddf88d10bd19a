import ClusterKit

/// Checklist item 7: delayed messages.
extension QueueConformance {
    static let delayCases: [Case] = [
        Case("queue.delayed-invisible-until-due", "A delayed message is counted as delayed and invisible until its delay has passed") { context in
            let node = try await context.makeNode()
            let start = ContinuousClock.now
            try await node.publish(queueName, bytes("later"), options: publishOptions(delay: .milliseconds(400)))
            let early = try await node.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            try check(early == nil, "a message delayed by 400 ms was delivered at once")
            let counts = try await node.counts(queueName)
            try check(elapsed(since: start) >= .milliseconds(400) || counts == QueueCounts(delayed: 1),
                      "counts right after publishing a delayed message: expected \(QueueCounts(delayed: 1)), got \(counts)")
            let delivery = try await receiveOrFail(node, wait: .seconds(5), "the delayed message once due")
            let took = elapsed(since: start)
            try checkEqual(delivery.message.text, "later", "body")
            try check(took >= .milliseconds(300), "a message delayed by 400 ms was delivered after \(took)")
        },
        Case("queue.delayed-due-order", "Delayed messages come out in the order they fall due, not the order published") { context in
            let node = try await context.makeNode()
            // Due times 500 ms apart: a durable backend's confirmed publishes (fsync) can take
            // a few hundred ms under load, and "due" counts from each publish, so closer
            // spacing would make the expected order itself depend on publish latency.
            try await node.publish(queueName, bytes("c"), options: publishOptions(delay: .milliseconds(1200)))
            try await node.publish(queueName, bytes("a"), options: publishOptions(delay: .milliseconds(200)))
            try await node.publish(queueName, bytes("b"), options: publishOptions(delay: .milliseconds(700)))
            let order = Collector<String>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { order.append($0.text) }
            try await eventually("all three delayed messages") { order.count >= 3 }
            try checkEqual(order.values, ["a", "b", "c"], "delivery order")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.delay-in-past-is-now", "A zero or negative delay makes the message visible at once") { context in
            let node = try await context.makeNode()
            try await node.publish(queueName, bytes("zero"), options: publishOptions(delay: .zero))
            try await node.publish(queueName, bytes("past"), options: publishOptions(delay: .seconds(-5)))
            try await expectCounts(node, QueueCounts(waiting: 2), "counts after publishing with zero and negative delays")
            let first = try await receiveOrFail(node, wait: .milliseconds(500), "the zero-delay message")
            let second = try await receiveOrFail(node, wait: .milliseconds(500), "the negative-delay message")
            try checkEqual([first.message.text, second.message.text], ["zero", "past"], "bodies in publish order")
        },
    ]
}
