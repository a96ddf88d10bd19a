import ClusterKit

/// Checklist item 6: claims, visibility timeouts, crashes.
extension QueueConformance {
    static let visibilityCases: [Case] = [
        Case("queue.visibility-timeout-redelivers", "An unacknowledged message is invisible until its visibility timeout, then redelivered with attempt + 1") { context in
            let (holder, other) = try await (context.makeNode(), context.makeNode())
            try await holder.publish(queueName, bytes("held"), options: publishOptions())
            let start = ContinuousClock.now
            let first = try await receiveOrFail(holder, "the first delivery")
            let early = try await other.receive(queueName, wait: .zero, visibilityTimeout: visibility)
            try check(early == nil, "a message within its visibility timeout was handed to another consumer")
            let second = try await receiveOrFail(other, wait: .seconds(5), "the redelivery after the visibility timeout")
            let took = elapsed(since: start)
            try checkEqual(second.message.id, first.message.id, "ID of the redelivery")
            try checkEqual(second.message.attempt, 2, "attempt of the redelivery")
            try check(took >= .milliseconds(200), "redelivered after \(took), before the 300 ms visibility timeout")
            try await other.acknowledge(second)
            try await expectCounts(other, QueueCounts(), "counts after the redelivery was acknowledged")
        },
        Case("queue.extend-visibility-keeps-claim", "Extending the visibility keeps a message from other consumers past its first timeout; it fails once the delivery is settled") { context in
            let (holder, other) = try await (context.makeNode(), context.makeNode())
            try await holder.publish(queueName, bytes("kept"), options: publishOptions())
            // Extended every 400 ms to 1 s: only a stall of over 600 ms could let it lapse.
            let claim = claimVisibility
            let delivery = try await receiveOrFail(holder, visibilityTimeout: claim, "the delivery")
            // Held for 4 × 400 ms = 1.6 s, well past the first visibility timeout.
            for round in 1...4 {
                try await Task.sleep(for: claim * 0.4)
                let kept = try await holder.extendVisibility(delivery, by: claim)
                try check(kept, "extendVisibility returned false in round \(round) while the claim was live")
                let stolen = try await other.receive(queueName, wait: .zero, visibilityTimeout: visibility)
                try check(stolen == nil, "another consumer took the message in round \(round) although its claim was extended")
            }
            try await holder.acknowledge(delivery)
            let afterAck = try await holder.extendVisibility(delivery, by: claim)
            try check(!afterAck, "extendVisibility returned true for an acknowledged delivery")
            try await expectCounts(holder, QueueCounts(), "counts after acknowledge")
        },
        Case("queue.crash-redelivered-to-other-node", "A node closed without draining (a crash) loses its running message to another node, as attempt 2") { context in
            let (crashing, survivor) = try await (context.makeNode(), context.makeNode())
            let started = Flag()
            let crashedSeen = Collector<Seen>()
            // A short claim: the crashed node's message is meant to come back soon.
            _ = try await crashing.consume(queueName, options: consumerOptions(visibilityTimeout: visibility)) { message in
                crashedSeen.append(Seen(message))
                started.set()
                try await Task.sleep(for: .seconds(30))
            }
            let id = try await crashing.publish(queueName, bytes("survive"), options: publishOptions(timeout: .seconds(30)))
            try await eventually("the first node to start the handler") { started.isSet }
            let survivorSeen = Collector<Seen>()
            let survivorConsumer = try await survivor.consume(queueName, options: consumerOptions()) { survivorSeen.append(Seen($0)) }
            await crashing.close(drainTimeout: .zero)
            try await eventually("the surviving node to get the message") { survivorSeen.count >= 1 }
            try checkEqual(survivorSeen.values.map(\.id), [id], "messages the survivor handled")
            try checkEqual(survivorSeen.values.map(\.attempt), [2], "attempt seen by the survivor")
            try checkEqual(crashedSeen.values.map(\.attempt), [1], "attempts seen by the crashed node")
            try await expectCounts(survivor, QueueCounts(), "counts after the survivor handled it")
            await survivorConsumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.live-claim-not-stolen", "A handler running longer than the visibility timeout keeps its message: no other consumer gets it") { context in
            let (slow, idle) = try await (context.makeNode(), context.makeNode())
            let slowSeen = Collector<Seen>()
            let finished = Flag()
            let slowConsumer = try await slow.consume(queueName, options: consumerOptions()) { message in
                slowSeen.append(Seen(message))
                try await Task.sleep(for: claimVisibility * 1.5)  // past the visibility timeout: needs renewal
                finished.set()
            }
            try await slow.publish(queueName, bytes("long job"), options: publishOptions(timeout: .seconds(10)))
            try await eventually("the slow handler to start") { slowSeen.count >= 1 }
            let idleSeen = Collector<Seen>()
            let idleConsumer = try await idle.consume(queueName, options: consumerOptions()) { idleSeen.append(Seen($0)) }
            try await eventually("the slow handler to finish") { finished.isSet }
            try await expectCounts(slow, QueueCounts(), "counts after the slow handler returned")
            // Settle time for a delivery to the idle consumer that was already under way.
            try await Task.sleep(for: .milliseconds(400))
            try checkEqual(idleSeen.values.map(\.attempt), [], "deliveries to the other consumer")
            try checkEqual(slowSeen.values.map(\.attempt), [1], "deliveries to the slow consumer")
            await idleConsumer.stop(drainTimeout: .seconds(1))
            await slowConsumer.stop(drainTimeout: .seconds(1))
        },
    ]
}
