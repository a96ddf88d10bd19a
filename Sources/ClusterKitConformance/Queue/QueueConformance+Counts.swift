import ClusterKit

/// Checklist items 11 and 12 (purge): counts per state.
extension QueueConformance {
    /// Puts the queue into a known mix: 2 waiting, 1 delayed (for a minute), 1 in flight, 1
    /// dead. Returns the in-flight delivery.
    static func fillEveryState(_ node: any MessageQueue) async throws -> QueueDelivery {
        try await node.publish(queueName, bytes("dies"), options: publishOptions(maxAttempts: 1))
        try await node.publish(queueName, bytes("held"), options: publishOptions())
        try await node.publish(queueName, bytes("waits 1"), options: publishOptions())
        try await node.publish(queueName, bytes("waits 2"), options: publishOptions())
        try await node.publish(queueName, bytes("later"), options: publishOptions(delay: .seconds(60)))
        let dying = try await receiveOrFail(node, "the message to dead-letter")
        try checkEqual(dying.message.text, "dies", "first message out")
        try await node.reject(dying, reason: "fatal")
        // A long visibility so that the held message stays in flight during the checks.
        let held = try await receiveOrFail(node, visibilityTimeout: .seconds(60), "the message to hold")
        try checkEqual(held.message.text, "held", "second message out")
        return held
    }

    static let countCases: [Case] = [
        Case("queue.counts-by-state", "counts() reports waiting, delayed, in-flight and dead messages, and follows them as they move") { context in
            let (node, other) = try await (context.makeNode(), context.makeNode())
            try await checkEqual(node.counts(queueName), QueueCounts(), "counts of an unused queue")
            let held = try await fillEveryState(node)
            try await expectCounts(node, QueueCounts(waiting: 2, delayed: 1, inFlight: 1, dead: 1), "counts with every state filled")
            try await expectCounts(other, QueueCounts(waiting: 2, delayed: 1, inFlight: 1, dead: 1), "the same counts seen from another node")
            try await node.acknowledge(held)
            let next = try await receiveOrFail(node, "a waiting message")
            try await expectCounts(node, QueueCounts(waiting: 1, delayed: 1, inFlight: 1, dead: 1), "counts after one ack and one receive")
            try await node.reject(next, reason: "retry later")
            try await expectCounts(node, QueueCounts(waiting: 2, delayed: 1, inFlight: 0, dead: 1), "counts once the rejected message is due again")
        },
        Case("queue.purge-waiting-only", "purge() removes waiting messages only: delayed, in-flight and dead ones stay") { context in
            let node = try await context.makeNode()
            let held = try await fillEveryState(node)
            try await checkEqual(node.purge(queueName), 2, "messages purged")
            try await expectCounts(node, QueueCounts(waiting: 0, delayed: 1, inFlight: 1, dead: 1), "counts after purge")
            try await node.acknowledge(held)
            try await checkEqual(node.deadLetters(queueName, limit: 10).map(\.message.text), ["dies"], "dead letters after purge")
            try await checkEqual(node.purge(queueName), 0, "messages purged from an empty waiting list")
        },
    ]
}
