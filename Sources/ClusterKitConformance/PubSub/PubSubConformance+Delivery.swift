import ClusterKit

extension PubSubConformance {
    static let deliveryCases: [ConformanceCase<any PubSub>] = [
        probing("pubsub.ordered-delivery",
                "one subscriber receives all N messages of a publisher once each, in order, with payload, channel and publisher intact") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let receiver = try await probe.receive(subscriber, "orders", label: "subscriber")
            let expected = texts("message", 200)
            for text in expected { try await publisher.publish("orders", text) }
            try await receiver.waitForCount(expected.count)
            try await publisher.publish("orders", "end")
            try await receiver.waitFor(text: "end")
            try checkEqualList(receiver.texts, expected + ["end"], "messages received, in order")
            for message in receiver.messages {
                try checkEqual(message.channel, "orders", "channel of a received message")
                try checkEqual(message.publisherID, publisher.nodeID, "publisherID of a received message")
                try checkEqual(message.isFromSelf, false, "isFromSelf of a message from another node")
            }
        },

        probing("pubsub.fan-out",
                "several subscriber nodes each receive every message, in order") { context, probe in
            let publisher = try await context.makeNode()
            var receivers: [PubSubReceiver] = []
            for index in 0..<3 {
                let node = try await context.makeNode()
                receivers.append(try await probe.receive(node, "fan", label: "subscriber node \(index)"))
            }
            let expected = texts("fan", 50)
            for text in expected { try await publisher.publish("fan", text) }
            try await publisher.publish("fan", "end")
            for receiver in receivers {
                try await receiver.waitFor(text: "end")
                try checkEqualList(receiver.texts, expected + ["end"], "\(receiver.label): messages received")
            }
        },

        probing("pubsub.channel-isolation",
                "a subscription receives only its own channel, not channels sharing a prefix") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let channels = ["alpha", "alpha.x", "alph", "beta"]
            var receivers: [String: PubSubReceiver] = [:]
            for channel in channels {
                receivers[channel] = try await probe.receive(subscriber, channel, label: "subscription to '\(channel)'")
            }
            for channel in channels { try await publisher.publish(channel, "to-\(channel)") }
            for channel in channels { try await receivers[channel]!.waitFor(text: "to-\(channel)") }
            for channel in channels { try await publisher.publish(channel, "marker") }
            for channel in channels { try await receivers[channel]!.waitFor(text: "marker") }
            try await Task.sleep(for: settle)
            for channel in channels {
                try checkEqualList(receivers[channel]!.texts, ["to-\(channel)", "marker"], "messages received on '\(channel)'")
            }
        },

        probing("pubsub.concurrent-channels",
                "publishers on several channels at once: every subscriber gets exactly its channels' messages, each channel in order") { context, probe in
            let channels = ["c1", "c2", "c3", "c4"]
            let perChannel = 40
            let subscribers = try await context.makeNodes(2)
            var receivers: [(String, PubSubReceiver)] = []
            for (index, node) in subscribers.enumerated() {
                for channel in channels {
                    receivers.append((channel, try await probe.receive(node, channel, label: "node \(index) on '\(channel)'")))
                }
            }
            let publishers = try await context.makeNodes(channels.count)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (channel, publisher) in zip(channels, publishers) {
                    group.addTask {
                        for text in texts(channel, perChannel) { try await publisher.publish(channel, text) }
                    }
                }
                try await group.waitForAll()
            }
            for (_, receiver) in receivers { try await receiver.waitForCount(perChannel) }
            try await Task.sleep(for: settle)
            for (channel, receiver) in receivers {
                try checkEqualList(receiver.texts, texts(channel, perChannel), "\(receiver.label): messages received")
            }
        },

        probing("pubsub.no-history",
                "a new subscription does not receive messages published before it subscribed") { context, probe in
            let publisher = try await context.makeNode()
            let early = try await context.makeNode()
            let earlyReceiver = try await probe.receive(early, "history", label: "early subscriber")
            let before = texts("before", 3)
            for text in before { try await publisher.publish("history", text) }
            try await earlyReceiver.waitForCount(before.count)
            // A new node, and a new subscription on a node that already had one.
            let late = try await context.makeNode()
            let lateReceiver = try await probe.receive(late, "history", label: "subscriber on a new node")
            let secondReceiver = try await probe.receive(early, "history", label: "second subscription on the early node")
            try await publisher.publish("history", "after")
            try await lateReceiver.waitFor(text: "after")
            try await secondReceiver.waitFor(text: "after")
            try checkEqualList(lateReceiver.texts, ["after"], "messages received by the late subscriber")
            try checkEqualList(secondReceiver.texts, ["after"], "messages received by the later subscription")
            try checkEqualList(earlyReceiver.texts, before + ["after"], "messages received by the early subscriber")
        },

        probing("pubsub.large-payload",
                "a 1 MiB payload arrives byte for byte") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let receiver = try await probe.receive(subscriber, "large", label: "subscriber")
            let payload = pseudoRandomBytes(count: 1 << 20, seed: 0x5EED)
            try await publisher.publish("large", payload, options: .init())
            try await receiver.waitForCount(1, timeout: .seconds(10))
            try checkSameBytes(receiver.messages[0].payload, payload, "the 1 MiB payload")
        },

        probing("pubsub.binary-payload",
                "binary payloads (every byte value, NUL, invalid UTF-8, protocol-like bytes, empty) arrive unchanged and in order") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let receiver = try await probe.receive(subscriber, "binary", label: "subscriber")
            let payloads: [[UInt8]] = [
                Array(0...255),
                [0x00],
                [0xFF, 0xFE, 0x00, 0xC3, 0x28, 0xA0, 0xA1],
                Array("*3\r\n$5\r\nhello\r\n\0{\"a\":1}".utf8),
                [],
                Array((0...255).reversed()),
            ]
            for payload in payloads { try await publisher.publish("binary", payload, options: .init()) }
            try await receiver.waitForCount(payloads.count)
            let received = receiver.messages.map(\.payload)
            try checkEqual(received.count, payloads.count, "number of binary messages received")
            for (index, (got, sent)) in zip(received, payloads).enumerated() {
                try checkSameBytes(got, sent, "binary payload #\(index)")
            }
        },

        probing("pubsub.invalid-channel",
                "publish and subscribe reject channel names outside [A-Za-z0-9_.:-] (1-256 characters) with invalidChannel") { context, probe in
            let node = try await context.makeNode()
            let invalid = ["", "has space", "slash/x", "star*", "ünï", "new\nline", String(repeating: "a", count: 257)]
            for channel in invalid {
                let shown = channel.count > 20 ? "\(channel.count) characters" : "'\(channel)'"
                try await expectError(.invalidChannel, "publish on \(shown)") {
                    try await node.publish(channel, "x")
                }
                try await expectError(.invalidChannel, "subscribe to \(shown)") {
                    try await node.subscribe(channel)
                }
            }
            let edge = "A-z_0.9:" + String(repeating: "b", count: 248)
            let receiver = try await probe.receive(node, edge, label: "subscription to a 256-character channel")
            try await node.publish(edge, "ok")
            try await receiver.waitFor(text: "ok")
        },
    ]

    /// Fails unless the lists are equal, naming the first difference.
    static func checkEqualList(_ actual: [String], _ expected: [String], _ what: String) throws(ConformanceFailure) {
        guard actual != expected else { return }
        let index = firstDifference(actual, expected)
        let got = index < actual.count ? "'\(actual[index])'" : "nothing"
        let wanted = index < expected.count ? "'\(expected[index])'" : "nothing more"
        throw ConformanceFailure("\(what): expected \(expected.count) message(s), got \(actual.count); first difference at #\(index): expected \(wanted), got \(got) (received: \(actual.prefix(10))\(actual.count > 10 ? "…" : ""))")
    }

    /// Fails unless the byte arrays are equal, naming sizes and the first differing offset.
    static func checkSameBytes(_ actual: [UInt8], _ expected: [UInt8], _ what: String) throws(ConformanceFailure) {
        guard actual != expected else { return }
        let offset = firstDifference(actual, expected)
        throw ConformanceFailure("\(what): expected \(expected.count) bytes, got \(actual.count); first difference at byte \(offset)")
    }

    /// The first index where the arrays differ (the shorter length when one is a prefix).
    static func firstDifference<T: Equatable>(_ lhs: [T], _ rhs: [T]) -> Int {
        let common = min(lhs.count, rhs.count)
        return (0..<common).first { lhs[$0] != rhs[$0] } ?? common
    }

    /// Deterministic bytes that are not text (xorshift).
    static func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }
}
