import ClusterKit

extension PubSubConformance {
    static let routingCases: [ConformanceCase<any PubSub>] = [
        probing("pubsub.default-includes-self",
                "by default a message reaches every subscribed node, the publisher's own subscriptions included, flagged isFromSelf") { context, probe in
            let publisher = try await context.makeNode()
            let other = try await context.makeNode()
            let own = try await probe.receive(publisher, "signals", label: "publisher's own subscription")
            let remote = try await probe.receive(other, "signals", label: "other node's subscription")
            try await publisher.publish("signals", "hello")
            try await own.waitFor(text: "hello")
            try await remote.waitFor(text: "hello")
            try checkEqual(own.messages[0].isFromSelf, true, "isFromSelf on the publishing node")
            try checkEqual(remote.messages[0].isFromSelf, false, "isFromSelf on another node")
            try checkEqual(own.messages[0].publisherID, publisher.nodeID, "publisherID seen by the publishing node")
            try checkEqual(remote.messages[0].publisherID, publisher.nodeID, "publisherID seen by another node")
        },

        probing("pubsub.skip-self",
                "skipSelf: the publishing node does not receive its message, other nodes do") { context, probe in
            let publisher = try await context.makeNode()
            let other = try await context.makeNode()
            let own = try await probe.receive(publisher, "signals", label: "publisher's own subscription")
            let remote = try await probe.receive(other, "signals", label: "other node's subscription")
            try await publisher.publish("signals", "skipped-by-self", options: PubSubPublishOptions(skipSelf: true))
            try await remote.waitFor(text: "skipped-by-self")
            try await publisher.publish("signals", "marker")
            try await own.waitFor(text: "marker")
            try await remote.waitFor(text: "marker")
            try checkEqualList(own.texts, ["marker"], "publisher's own subscription after a skipSelf message and a marker")
            try checkEqualList(remote.texts, ["skipped-by-self", "marker"], "other node after a skipSelf message and a marker")
        },

        probing("pubsub.only-self",
                "onlySelf: only the publishing node receives its message") { context, probe in
            let publisher = try await context.makeNode()
            let other = try await context.makeNode()
            let own = try await probe.receive(publisher, "signals", label: "publisher's own subscription")
            let remote = try await probe.receive(other, "signals", label: "other node's subscription")
            try await publisher.publish("signals", "for-self-only", options: PubSubPublishOptions(onlySelf: true))
            try await own.waitFor(text: "for-self-only")
            try checkEqual(own.messages[0].isFromSelf, true, "isFromSelf of an onlySelf message")
            try await publisher.publish("signals", "marker")
            try await own.waitFor(text: "marker")
            try await remote.waitFor(text: "marker")
            try checkEqualList(own.texts, ["for-self-only", "marker"], "publisher's own subscription after an onlySelf message and a marker")
            try checkEqualList(remote.texts, ["marker"], "other node after an onlySelf message and a marker")
        },

        probing("pubsub.conflicting-options",
                "publishing with both skipSelf and onlySelf throws invalidOptions and delivers nothing") { context, probe in
            let publisher = try await context.makeNode()
            let other = try await context.makeNode()
            let own = try await probe.receive(publisher, "signals", label: "publisher's own subscription")
            let remote = try await probe.receive(other, "signals", label: "other node's subscription")
            try await expectError(.invalidOptions, "publish with skipSelf and onlySelf") {
                try await publisher.publish("signals", "conflicting", options: PubSubPublishOptions(skipSelf: true, onlySelf: true))
            }
            try await publisher.publish("signals", "marker")
            try await own.waitFor(text: "marker")
            try await remote.waitFor(text: "marker")
            try checkEqualList(own.texts, ["marker"], "publisher's own subscription after a rejected publish")
            try checkEqualList(remote.texts, ["marker"], "other node after a rejected publish")
        },

        probing("pubsub.app-isolation",
                "two app namespaces on one backend never see each other's messages") { context, probe in
            let appA1 = try await context.makeNode()
            let appA2 = try await context.makeNode()
            let appB = try await context.makeNode(appName: context.otherAppName())
            let a1 = try await probe.receive(appA1, "shared", label: "app A node 1")
            let a2 = try await probe.receive(appA2, "shared", label: "app A node 2")
            let b = try await probe.receive(appB, "shared", label: "app B node")
            try await appA1.publish("shared", "from-a")
            try await appB.publish("shared", "from-b")
            try await a2.waitFor(text: "from-a")
            try await b.waitFor(text: "from-b")
            try await appA1.publish("shared", "marker-a")
            try await appB.publish("shared", "marker-b")
            try await a1.waitFor(text: "marker-a")
            try await a2.waitFor(text: "marker-a")
            try await b.waitFor(text: "marker-b")
            try await Task.sleep(for: settle)
            try checkEqualList(a1.texts, ["from-a", "marker-a"], "app A node 1 (app B published on the same channel)")
            try checkEqualList(a2.texts, ["from-a", "marker-a"], "app A node 2 (app B published on the same channel)")
            try checkEqualList(b.texts, ["from-b", "marker-b"], "app B node (app A published on the same channel)")
        },
    ]
}
