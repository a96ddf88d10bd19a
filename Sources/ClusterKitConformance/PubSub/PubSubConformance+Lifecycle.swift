import ClusterKit

extension PubSubConformance {
    static let lifecycleCases: [ConformanceCase<any PubSub>] = [
        probing("pubsub.cancel-stops-delivery",
                "a cancelled subscription ends and receives nothing more; other subscriptions of the node keep receiving") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let cancelled = try await probe.receive(subscriber, "cancel", label: "cancelled subscription")
            let kept = try await probe.receive(subscriber, "cancel", label: "kept subscription")
            try await publisher.publish("cancel", "before")
            try await cancelled.waitFor(text: "before")
            try await kept.waitFor(text: "before")
            cancelled.subscription.cancel()
            try check(cancelled.subscription.isCancelled, "isCancelled should be true after cancel()")
            try await cancelled.waitUntilEnded("cancel()")
            try await publisher.publish("cancel", "after")
            try await publisher.publish("cancel", "marker")
            try await kept.waitFor(text: "marker")
            try checkEqualList(cancelled.texts, ["before"], "cancelled subscription")
            try checkEqualList(kept.texts, ["before", "after", "marker"], "subscription kept on the same node")
        },

        probing("pubsub.two-subscriptions-one-copy-each",
                "two subscriptions to one channel on one node each receive every message exactly once") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let receivers = [
                try await probe.receive(subscriber, "twice", label: "first subscription on a remote node"),
                try await probe.receive(subscriber, "twice", label: "second subscription on a remote node"),
                try await probe.receive(publisher, "twice", label: "first subscription on the publishing node"),
                try await probe.receive(publisher, "twice", label: "second subscription on the publishing node"),
            ]
            let expected = texts("copy", 20)
            for text in expected { try await publisher.publish("twice", text) }
            try await publisher.publish("twice", "marker")
            for receiver in receivers { try await receiver.waitFor(text: "marker") }
            try await Task.sleep(for: settle)
            for receiver in receivers {
                try checkEqualList(receiver.texts, expected + ["marker"], receiver.label)
            }
        },

        probing("pubsub.close-during-delivery",
                "closing a subscriber node while messages flow ends its subscriptions cleanly; publishers and other nodes are unaffected") { context, probe in
            let publisher = try await context.makeNode()
            let closing = try await context.makeNode()
            let watcher = try await context.makeNode()
            let closingReceivers = [
                try await probe.receive(closing, "flow", label: "subscription on the closing node"),
                try await probe.receive(closing, "flow", debounce: debounceWindow, label: "debounced subscription on the closing node"),
            ]
            let watching = try await probe.receive(watcher, "flow", label: "subscription on another node")
            let expected = texts("flow", 300)
            let publishing = Task {
                for text in expected {
                    try await publisher.publish("flow", text)
                    await Task.yield()
                }
            }
            defer { publishing.cancel() }
            try await closingReceivers[0].waitForCount(10)
            await closing.close()
            for receiver in closingReceivers { try await receiver.waitUntilEnded("its node was closed") }
            try await publishing.value
            try await watching.waitForCount(expected.count)
            try checkEqualList(watching.texts, expected, "subscription on a node that stayed open")
            let partial = closingReceivers[0].texts
            try checkEqualList(partial, Array(expected.prefix(partial.count)),
                               "subscription on the closed node (must be an in-order prefix, no duplicates)")
            let debounced = closingReceivers[1].texts
            try check(Set(debounced).count == debounced.count && debounced.allSatisfy(expected.contains),
                      "debounced subscription on the closed node: expected distinct published payloads, got \(closingReceivers[1].summary)")
        },

        probing("pubsub.no-delivery-after-close",
                "after close() nothing is delivered, not even a debounced message pending at close time") { context, probe in
            let publisher = try await context.makeNode()
            let closing = try await context.makeNode()
            let watcher = try await context.makeNode()
            let pending = try await probe.receive(closing, "pending", debounce: debounceWindow, label: "debounced subscription on the closed node")
            let plain = try await probe.receive(closing, "pending", label: "subscription on the closed node")
            let watching = try await probe.receive(watcher, "pending", debounce: debounceWindow, label: "debounced subscription on another node")
            try await publisher.publish("pending", "late")
            // The closing node has the message (its other subscription got it), so the
            // debounced one has a window open: close before the window ends.
            try await plain.waitFor(text: "late")
            await closing.close()
            // The same window on another node ending shows the closed node's would have too.
            try await watching.waitFor(text: "late")
            try await publisher.publish("pending", "after-close")
            try await watching.waitFor(text: "after-close")
            try await Task.sleep(for: settle)
            try checkEqualList(pending.texts, [], "debounced subscription whose node closed while its window was open")
            try checkEqualList(plain.texts, ["late"], "subscription on the closed node")
            try await pending.waitUntilEnded("its node was closed")
            try await plain.waitUntilEnded("its node was closed")
        },

        probing("pubsub.close-is-final",
                "close() is idempotent; afterwards publish and subscribe throw closed, and other nodes keep working") { context, probe in
            let node = try await context.makeNode()
            let other = try await context.makeNode()
            let receiver = try await probe.receive(node, "final", label: "subscription on the closed node")
            await node.close()
            await node.close()
            try await receiver.waitUntilEnded("close()")
            try await expectError(.closed, "publish after close()") { try await node.publish("final", "x") }
            try await expectError(.closed, "subscribe after close()") { try await node.subscribe("final") }
            let otherReceiver = try await probe.receive(other, "final", label: "subscription on an open node")
            try await other.publish("final", "still-working")
            try await otherReceiver.waitFor(text: "still-working")
            try checkEqualList(receiver.texts, [], "subscription on the closed node")
        },
    ]
}
