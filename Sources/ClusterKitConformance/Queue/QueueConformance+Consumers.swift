import ClusterKit

/// Checklist items 8, 9 and 13: concurrency, sharing work, the gate, pause, ordering.
extension QueueConformance {
    static let consumerCases: [Case] = [
        Case("queue.concurrency-bound", "A consumer with concurrency C runs at most C handlers at once (and does run them in parallel)") { context in
            let node = try await context.makeNode()
            let probe = ConcurrencyProbe()
            let done = Collector<String>()
            for index in 0..<12 { try await node.publish(queueName, bytes("job \(index)"), options: publishOptions()) }
            let consumer = try await node.consume(queueName, options: consumerOptions(concurrency: 3)) { message in
                probe.enter()
                defer { probe.leave() }
                try await Task.sleep(for: .milliseconds(60))
                done.append(message.text)
            }
            try await eventually("all 12 messages to be handled") { done.count >= 12 }
            try check(probe.maximum <= 3, "up to \(probe.maximum) handlers ran at once with concurrency 3")
            try check(probe.maximum >= 2, "handlers never overlapped with concurrency 3 and 12 waiting messages (maximum \(probe.maximum))")
            try checkEqual(Set(done.values).count, 12, "distinct messages handled")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.each-processed-once-across-consumers", "N messages shared by K consumers on different nodes are each handled exactly once when nothing fails") { context in
            let nodes = try await context.makeNodes(3)
            let seen = Collector<Seen>()
            var consumers: [any QueueConsumer] = []
            for (index, node) in nodes.enumerated() {
                consumers.append(try await node.consume(queueName, options: consumerOptions(concurrency: 2)) { message in
                    seen.append(Seen(message, node: "node\(index)"))
                    try await Task.sleep(for: .milliseconds(5))
                })
            }
            let expected = (0..<60).map { "m\($0)" }
            for text in expected { try await nodes[0].publish(queueName, bytes(text), options: publishOptions()) }
            try await eventually("all 60 messages to be handled") { seen.count >= 60 }
            try await expectCounts(nodes[0], QueueCounts(), "counts after all were handled")
            try await Task.sleep(for: .milliseconds(100))
            let values = seen.values
            try checkEqual(values.count, 60, "handler runs (duplicates would make more)")
            try checkEqual(Set(values.map(\.text)), Set(expected), "messages handled")
            try check(values.allSatisfy { $0.attempt == 1 }, "some message was redelivered although nothing failed: \(values.filter { $0.attempt != 1 })")
            for consumer in consumers { await consumer.stop(drainTimeout: .seconds(1)) }
        },
        Case("queue.gate-pauses-pulling", "A consumer whose gate says no takes nothing (messages wait); opening the gate resumes, closing it again stops taking") { context in
            let node = try await context.makeNode()
            let open = Flag(false)
            let seen = Collector<String>()
            let consumer = try await node.consume(queueName, options: consumerOptions(gate: { open.isSet })) { seen.append($0.text) }
            for text in ["a", "b", "c"] { try await node.publish(queueName, bytes(text), options: publishOptions()) }
            try await Task.sleep(for: .milliseconds(200))
            try checkEqual(seen.count, 0, "messages taken through a closed gate")
            try await expectCounts(node, QueueCounts(waiting: 3), "counts while the gate is closed")

            open.set(true)
            try await eventually("the three messages once the gate opened") { seen.count >= 3 }
            open.set(false)
            // The gate interval is 50 ms: a pull started before the gate closed has ended by
            // now, with room for a stalled scheduler.
            try await Task.sleep(for: .milliseconds(500))
            for text in ["d", "e"] { try await node.publish(queueName, bytes(text), options: publishOptions()) }
            try await Task.sleep(for: .milliseconds(200))
            try checkEqual(seen.count, 3, "messages taken after the gate closed again")
            try await expectCounts(node, QueueCounts(waiting: 2), "counts while the gate is closed again")
            open.set(true)
            try await eventually("the last two messages once the gate reopened") { seen.count >= 5 }
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.pause-resume", "A paused consumer takes nothing and loses nothing; resume takes the waiting messages") { context in
            let node = try await context.makeNode()
            let seen = Collector<String>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { seen.append($0.text) }
            await consumer.pause()
            for text in ["x", "y"] { try await node.publish(queueName, bytes(text), options: publishOptions()) }
            try await Task.sleep(for: .milliseconds(300))
            try checkEqual(seen.count, 0, "messages taken while paused")
            try await expectCounts(node, QueueCounts(waiting: 2), "counts while paused")
            await consumer.resume()
            try await eventually("both messages after resume") { seen.count >= 2 }
            try checkEqual(seen.values, ["x", "y"], "messages handled after resume")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.fifo-single-consumer", "One consumer with concurrency 1 gets messages in publish order") { context in
            let node = try await context.makeNode()
            let expected = (0..<20).map { "n\($0)" }
            for text in expected { try await node.publish(queueName, bytes(text), options: publishOptions()) }
            let order = Collector<String>()
            let consumer = try await node.consume(queueName, options: consumerOptions(concurrency: 1)) { order.append($0.text) }
            try await eventually("all 20 messages") { order.count >= 20 }
            try checkEqual(order.values, expected, "delivery order")
            await consumer.stop(drainTimeout: .seconds(1))
        },
    ]
}
