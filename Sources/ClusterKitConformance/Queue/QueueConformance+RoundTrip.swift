import ClusterKit

/// Checklist items 1, 2 and 12 (bodies), plus names, namespaces and closing.
extension QueueConformance {
    static let roundTripCases: [Case] = [
        Case("queue.round-trip", "A message published on one node is received on another with its body, headers and options, attempt 1") { context in
            let (producer, receiver) = try await (context.makeNode(), context.makeNode())
            let headers = ["trace": "abc-123", "kind": "email"]
            let options = publishOptions(maxAttempts: 4, timeout: .seconds(7), headers: headers)
            let id = try await producer.publish(queueName, bytes("hello"), options: options)
            let delivery = try await receiveOrFail(receiver, "the published message")
            let message = delivery.message
            try checkEqual(message.id, id, "message ID")
            try checkEqual(message.queue, queueName, "queue name")
            try checkEqual(message.text, "hello", "body")
            try checkEqual(message.headers, headers, "headers")
            try checkEqual(message.attempt, 1, "attempt of the first delivery")
            try checkEqual(message.maxAttempts, 4, "maxAttempts")
            try checkEqual(message.timeout, .seconds(7), "timeout")
            try await receiver.acknowledge(delivery)
            let more = try await receiver.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            try check(more == nil, "one publish must give one message, got a second: \(String(describing: more?.message))")
        },
        Case("queue.consume-round-trip", "A consumer runs its handler with the published body and headers") { context in
            let (producer, consumerNode) = try await (context.makeNode(), context.makeNode())
            let seen = Collector<QueueMessage>()
            let consumer = try await consumerNode.consume(queueName, options: consumerOptions()) { seen.append($0) }
            try await producer.publish(queueName, bytes("work"), options: publishOptions(headers: ["tenant": "t1"]))
            try await eventually("the handler to run") { seen.count == 1 }
            let message = seen.values[0]
            try checkEqual(message.text, "work", "body")
            try checkEqual(message.headers, ["tenant": "t1"], "headers")
            try checkEqual(message.attempt, 1, "attempt")
            try await expectCounts(producer, QueueCounts(), "counts after the handler returned")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.same-body-twice", "Publishing the same body twice gives two messages with different IDs") { context in
            let node = try await context.makeNode()
            let first = try await node.publish(queueName, bytes("same"), options: publishOptions())
            let second = try await node.publish(queueName, bytes("same"), options: publishOptions())
            try check(first != second, "two publishes returned the same ID \(first)")
            let a = try await receiveOrFail(node, "the first copy")
            let b = try await receiveOrFail(node, "the second copy")
            try checkEqual(Set([a.message.id, b.message.id]), Set([first, second]), "IDs of the received messages")
            try checkEqual([a.message.text, b.message.text], ["same", "same"], "bodies")
            let third = try await node.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            try check(third == nil, "expected exactly two messages, got a third: \(String(describing: third?.message))")
        },
        Case("queue.empty-receive-no-wait", "On an empty queue, receive with wait zero returns nothing without blocking") { context in
            let node = try await context.makeNode()
            let start = ContinuousClock.now
            let delivery = try await node.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            try check(delivery == nil, "expected nothing from an empty queue, got \(String(describing: delivery?.message))")
            let took = elapsed(since: start)
            try check(took < .seconds(2), "receive(wait: .zero) blocked for \(took)")
        },
        Case("queue.empty-receive-wait-times-out", "On an empty queue, a blocking receive waits about its wait, then returns nothing") { context in
            let node = try await context.makeNode()
            let start = ContinuousClock.now
            let delivery = try await node.receive(queueName, wait: .milliseconds(300), visibilityTimeout: visibility)
            let took = elapsed(since: start)
            try check(delivery == nil, "expected nothing from an empty queue, got \(String(describing: delivery?.message))")
            try check(took >= .milliseconds(250), "receive(wait: 300 ms) returned after only \(took)")
            try check(took < .seconds(5), "receive(wait: 300 ms) blocked for \(took)")
        },
        Case("queue.receive-wakes-on-publish", "A waiting receive returns a message published during its wait, before the wait ends") { context in
            let (waiter, producer) = try await (context.makeNode(), context.makeNode())
            let publisher = Task {
                try await Task.sleep(for: .milliseconds(150))
                try await producer.publish(queueName, bytes("wake"), options: publishOptions())
            }
            defer { publisher.cancel() }
            let start = ContinuousClock.now
            let delivery = try await waiter.receive(queueName, wait: .seconds(8), visibilityTimeout: visibility)
            let took = elapsed(since: start)
            try checkEqual(delivery?.message.text, "wake", "message received while waiting")
            try check(took < .seconds(5), "the waiting receive took \(took) to see a message published after 150 ms")
            try await publisher.value
        },
        Case("queue.empty-and-large-bodies", "An empty body and a 1 MiB body arrive byte for byte") { context in
            let node = try await context.makeNode()
            let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            try await node.publish(queueName, [], options: publishOptions())
            try await node.publish(queueName, large, options: publishOptions())
            let empty = try await receiveOrFail(node, "the empty message")
            try checkEqual(empty.message.body.count, 0, "size of the empty body")
            let big = try await receiveOrFail(node, "the 1 MiB message")
            try checkEqual(big.message.body.count, large.count, "size of the 1 MiB body")
            try check(big.message.body == large, "the 1 MiB body came back with different bytes")
            try await node.acknowledge(empty)
            try await node.acknowledge(big)
            try await expectCounts(node, QueueCounts(), "counts after both were acknowledged")
        },
        Case("queue.declared-capabilities", "The adapter declares the same optional capabilities as its conformance target") { context in
            let node = try await context.makeNode()
            try checkEqual(node.capabilities.contains(.durable), context.capabilities.contains("durable"),
                           "durable declared by the adapter (vs the target)")
        },
        Case("queue.invalid-queue-name", "Queue names outside [A-Za-z0-9_.-] (or empty) are rejected") { context in
            let node = try await context.makeNode()
            for name in ["", "has space", "colon:inside", "star*", String(repeating: "a", count: 201)] {
                try await checkThrows(QueueError.self, "publish to '\(name)'", where: { $0.code == .invalidQueueName }) {
                    try await node.publish(name, bytes("x"), options: publishOptions())
                }
                try await checkThrows(QueueError.self, "receive from '\(name)'", where: { $0.code == .invalidQueueName }) {
                    try await node.receive(name, wait: .zero, visibilityTimeout: visibility)
                }
                try await checkThrows(QueueError.self, "consume '\(name)'", where: { $0.code == .invalidQueueName }) {
                    try await node.consume(name, options: consumerOptions()) { _ in }
                }
            }
            try await node.publish("Valid_name-1.2", bytes("x"), options: publishOptions())
        },
        Case("queue.app-namespace-isolation", "A queue of one app is invisible to another app with the same queue name") { context in
            let mine = try await context.makeNode()
            let other = try await context.makeNode(appName: context.otherAppName())
            try await mine.publish(queueName, bytes("mine"), options: publishOptions())
            let leaked = try await other.receive(queueName, wait: .milliseconds(100), visibilityTimeout: visibility)
            try check(leaked == nil, "another app received \(String(describing: leaked?.message))")
            try await checkEqual(other.counts(queueName), QueueCounts(), "counts seen by another app")
            let delivery = try await receiveOrFail(mine, "the message in its own app")
            try checkEqual(delivery.message.text, "mine", "body")
        },
        Case("queue.closed-node-fails-others-continue", "After close a node's operations fail with closed; other nodes keep working") { context in
            let (closing, survivor) = try await (context.makeNode(), context.makeNode())
            let waiting = Task { try await closing.receive(queueName, wait: .seconds(10), visibilityTimeout: visibility) }
            try await Task.sleep(for: .milliseconds(50))
            let start = ContinuousClock.now
            await closing.close(drainTimeout: .seconds(1))
            await closing.close(drainTimeout: .seconds(1))
            switch await waiting.result {
            case .success(let delivery):
                try check(delivery == nil, "a receive waiting during close returned \(String(describing: delivery?.message))")
            case .failure(let error):
                try check((error as? QueueError)?.code == .closed, "a receive waiting during close failed with \(error), expected closed")
            }
            let took = elapsed(since: start)
            try check(took < .seconds(5), "a receive waiting during close kept waiting for \(took)")
            let isClosed: (QueueError) -> Bool = { $0.code == .closed }
            try await checkThrows(QueueError.self, "publish after close", where: isClosed) {
                try await closing.publish(queueName, bytes("x"), options: publishOptions())
            }
            try await checkThrows(QueueError.self, "receive after close", where: isClosed) {
                try await closing.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            }
            try await checkThrows(QueueError.self, "counts after close", where: isClosed) { try await closing.counts(queueName) }
            try await checkThrows(QueueError.self, "consume after close", where: isClosed) {
                try await closing.consume(queueName, options: consumerOptions()) { _ in }
            }
            try await survivor.publish(queueName, bytes("still"), options: publishOptions())
            let delivery = try await receiveOrFail(survivor, "a message on the surviving node")
            try checkEqual(delivery.message.text, "still", "body")
        },
    ]
}
