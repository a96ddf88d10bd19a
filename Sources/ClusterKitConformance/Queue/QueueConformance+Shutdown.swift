import ClusterKit

/// Checklist item 10 and the at-least-once promise across stops and crashes.
extension QueueConformance {
    static let shutdownCases: [Case] = [
        Case("queue.graceful-stop-finishes-in-flight", "stop(drainTimeout:) lets running handlers finish and acknowledges them: nothing lost, nothing handled twice") { context in
            let (node, other) = try await (context.makeNode(), context.makeNode())
            let started = Collector<String>()
            let finished = Collector<String>()
            let consumer = try await node.consume(queueName, options: consumerOptions(concurrency: 2)) { message in
                started.append(message.text)
                try await Task.sleep(for: .milliseconds(300))
                finished.append(message.text)
            }
            for text in ["p", "q"] { try await node.publish(queueName, bytes(text), options: publishOptions()) }
            try await eventually("both handlers to start") { started.count >= 2 }
            await consumer.stop(drainTimeout: .seconds(5))
            try checkEqual(Set(finished.values), ["p", "q"], "handlers finished by the time stop returned")
            try await expectCounts(node, QueueCounts(), "counts after a graceful stop")
            let seenElsewhere = Collector<String>()
            let otherConsumer = try await other.consume(queueName, options: consumerOptions()) { seenElsewhere.append($0.text) }
            // Longer than the stopped consumer's visibility timeout: an unacknowledged message would be back.
            try await Task.sleep(for: claimVisibility + .milliseconds(150))
            try checkEqual(seenElsewhere.values, [], "messages redelivered after a graceful stop")
            try checkEqual(started.count, 2, "handler runs")
            await otherConsumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.stop-past-drain-leaves-message", "A handler still running at the drain deadline is cancelled and its message is redelivered, not acknowledged or lost") { context in
            let (node, other) = try await (context.makeNode(), context.makeNode())
            let started = Flag()
            let cancelled = Flag()
            // A short claim: the abandoned message is meant to come back soon.
            let consumer = try await node.consume(queueName, options: consumerOptions(visibilityTimeout: visibility)) { _ in
                started.set()
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.set()
                    throw error
                }
            }
            let id = try await node.publish(queueName, bytes("unfinished"), options: publishOptions(timeout: .seconds(30)))
            try await eventually("the handler to start") { started.isSet }
            let start = ContinuousClock.now
            await consumer.stop(drainTimeout: .milliseconds(100))
            let took = elapsed(since: start)
            try check(took < .seconds(5), "stop(drainTimeout: 100 ms) took \(took)")
            try await eventually("the running handler to be cancelled") { cancelled.isSet }
            let seen = Collector<Seen>()
            let otherConsumer = try await other.consume(queueName, options: consumerOptions()) { seen.append(Seen($0)) }
            try await eventually("the unfinished message to be redelivered") { seen.count >= 1 }
            try checkEqual(seen.values.map(\.id), [id], "redelivered message")
            try checkEqual(seen.values.map(\.attempt), [2], "attempt of the redelivery")
            try await expectCounts(other, QueueCounts(), "counts after the redelivery was handled")
            await otherConsumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.close-stops-consumers", "Closing a node stops its consumers: nothing is handled there afterwards, and messages wait for others") { context in
            let (closing, producer) = try await (context.makeNode(), context.makeNode())
            let seen = Collector<String>()
            _ = try await closing.consume(queueName, options: consumerOptions()) { seen.append($0.text) }
            try await producer.publish(queueName, bytes("before"), options: publishOptions())
            try await eventually("the message published before close") { seen.count >= 1 }
            await closing.close(drainTimeout: .seconds(1))
            for text in ["after1", "after2"] { try await producer.publish(queueName, bytes(text), options: publishOptions()) }
            try await Task.sleep(for: .milliseconds(300))
            try checkEqual(seen.values, ["before"], "messages handled by the closed node")
            try await expectCounts(producer, QueueCounts(waiting: 2), "counts after close")
        },
        Case("queue.node-crash-at-least-once", "Messages published before a consumer node crashes mid-stream are all handled; a message is seen twice only as a retry (attempt > 1)") { context in
            let (producer, crashing, survivor) = try await (context.makeNode(), context.makeNode(), context.makeNode())
            let expected = (0..<20).map { "r\($0)" }
            for text in expected { try await producer.publish(queueName, bytes(text), options: publishOptions(timeout: .seconds(10))) }
            let seen = Collector<Seen>()
            // Short claims: the crashed node's messages are meant to come back soon.
            _ = try await crashing.consume(queueName, options: consumerOptions(concurrency: 2, visibilityTimeout: visibility)) { message in
                seen.append(Seen(message, node: "crashing"))
                try await Task.sleep(for: .milliseconds(40))
            }
            try await eventually("the first node to get going") { seen.count >= 5 }
            await crashing.close(drainTimeout: .zero)
            let survivorConsumer = try await survivor.consume(queueName, options: consumerOptions(concurrency: 2)) { message in
                seen.append(Seen(message, node: "survivor"))
            }
            try await expectCounts(producer, QueueCounts(), "counts once every message was handled", timeout: .seconds(8))
            let values = seen.values
            try checkEqual(Set(values.map(\.text)), Set(expected), "messages handled")
            for text in expected {
                let firstAttempts = values.filter { $0.text == text && $0.attempt == 1 }.count
                try check(firstAttempts <= 1, "\(text) was delivered \(firstAttempts) times as attempt 1")
            }
            await survivorConsumer.stop(drainTimeout: .seconds(1))
        },
    ]
}
