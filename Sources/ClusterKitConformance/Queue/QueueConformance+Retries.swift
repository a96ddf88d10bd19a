import ClusterKit

/// Checklist items 4 and 5: retries with backoff, dead letters, re-drive, enforced timeouts.
extension QueueConformance {
    struct Boom: Error, CustomStringConvertible {
        let attempt: Int
        var description: String { "boom on attempt \(attempt)" }
    }

    static let retryCases: [Case] = [
        Case("queue.retry-after-backoff", "A handler error redelivers the message with attempt + 1, no sooner than its backoff") { context in
            let node = try await context.makeNode()
            let backoff = Backoff(initial: .milliseconds(150), multiplier: 1, maximum: .milliseconds(150), jitter: 0)
            let attempts = Collector<(attempt: Int, at: ContinuousClock.Instant)>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { message in
                attempts.append((message.attempt, ContinuousClock.now))
                if message.attempt < 3 { throw Boom(attempt: message.attempt) }
            }
            try await node.publish(queueName, bytes("flaky"), options: publishOptions(maxAttempts: 3, backoff: backoff))
            try await eventually("three attempts") { attempts.count >= 3 }
            try await expectCounts(node, QueueCounts(), "counts after the third attempt succeeded")
            let seen = attempts.values
            try checkEqual(seen.map(\.attempt), [1, 2, 3], "attempt numbers")
            for index in 1..<seen.count {
                let gap = seen[index].at - seen[index - 1].at
                try check(gap >= .milliseconds(100), "attempt \(seen[index].attempt) came \(gap) after the previous one; the backoff is 150 ms")
            }
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.reject-redelivers", "reject() makes the message come back with attempt + 1 and the same ID and body") { context in
            let node = try await context.makeNode()
            let id = try await node.publish(queueName, bytes("again"), options: publishOptions())
            let first = try await receiveOrFail(node, "the first delivery")
            try await node.reject(first, reason: "not yet")
            let second = try await receiveOrFail(node, "the redelivery after reject")
            try checkEqual(second.message.id, id, "ID of the redelivery")
            try checkEqual(second.message.text, "again", "body of the redelivery")
            try checkEqual(second.message.attempt, 2, "attempt of the redelivery")
            try await node.acknowledge(second)
            try await expectCounts(node, QueueCounts(), "counts after acknowledge")
        },
        Case("queue.dead-letter-after-max-attempts", "After maxAttempts failures the message is dead-lettered with its last error, and is not retried again") { context in
            let node = try await context.makeNode()
            let attempts = Collector<Int>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { message in
                attempts.append(message.attempt)
                throw Boom(attempt: message.attempt)
            }
            let id = try await node.publish(queueName, bytes("poison"), options: publishOptions(maxAttempts: 2))
            try await expectCounts(node, QueueCounts(dead: 1), "counts once both attempts failed")
            try await Task.sleep(for: .milliseconds(200))
            try checkEqual(attempts.values, [1, 2], "attempts made (no third one)")
            let dead = try await node.deadLetters(queueName, limit: 10)
            try checkEqual(dead.map(\.message.id), [id], "dead-letter IDs")
            try checkEqual(dead[0].message.text, "poison", "dead-letter body")
            try checkEqual(dead[0].message.attempt, 2, "attempt recorded on the dead letter")
            try check(dead[0].lastError.contains("boom on attempt 2"), "the dead letter's last error should be the handler's error, got '\(dead[0].lastError)'")
            await consumer.stop(drainTimeout: .seconds(1))
        },
        Case("queue.redrive-dead-letters", "Dead letters are listed oldest first and re-driven (by ID or all) with a fresh attempt count") { context in
            let node = try await context.makeNode()
            var ids: [QueueMessageID] = []
            for text in ["first", "second", "third"] {
                ids.append(try await node.publish(queueName, bytes(text), options: publishOptions(maxAttempts: 1)))
                let delivery = try await receiveOrFail(node, "'\(text)'")
                try await node.reject(delivery, reason: "fail \(text)")
            }
            try await expectCounts(node, QueueCounts(dead: 3), "counts after three single-attempt failures")
            let listed = try await node.deadLetters(queueName, limit: 10)
            try checkEqual(listed.map(\.message.id), ids, "dead letters, oldest first")
            try checkEqual(listed.map(\.lastError), ["fail first", "fail second", "fail third"], "last errors")
            try await checkEqual(node.deadLetters(queueName, limit: 2).map(\.message.id), Array(ids.prefix(2)), "dead letters with limit 2")

            try await checkEqual(node.redrive(queueName, ids: [ids[1]]), 1, "messages moved by redrive([second])")
            let redriven = try await receiveOrFail(node, "the re-driven message")
            try checkEqual(redriven.message.id, ids[1], "ID of the re-driven message")
            try checkEqual(redriven.message.attempt, 1, "attempt after redrive")
            try await node.acknowledge(redriven)
            try await checkEqual(node.deadLetters(queueName, limit: 10).map(\.message.id), [ids[0], ids[2]], "dead letters left")

            try await checkEqual(node.redrive(queueName, ids: nil), 2, "messages moved by redrive(all)")
            try await expectCounts(node, QueueCounts(waiting: 2), "counts after redriving all")
        },
        Case("queue.timeout-cancels-and-retries", "A handler running past the message timeout is cancelled, the attempt fails and the message is retried") { context in
            let node = try await context.makeNode()
            let cancelled = Flag()
            let attempts = Collector<Int>()
            let consumer = try await node.consume(queueName, options: consumerOptions()) { message in
                attempts.append(message.attempt)
                guard message.attempt == 1 else { return }
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.set()
                    throw error
                }
            }
            try await node.publish(queueName, bytes("slow"), options: publishOptions(maxAttempts: 3, timeout: .milliseconds(200)))
            try await eventually("the second attempt") { attempts.count >= 2 }
            try await eventually("the first attempt's handler to be cancelled after its 200 ms timeout") { cancelled.isSet }
            try await expectCounts(node, QueueCounts(), "counts after the retry succeeded")
            try checkEqual(attempts.values, [1, 2], "attempts")
            await consumer.stop(drainTimeout: .seconds(1))
        },
    ]
}
