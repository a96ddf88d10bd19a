import ClusterKit

extension PubSubConformance {
    /// Long enough that a burst published back to back lands in one window even on a
    /// networked backend, short enough to keep the cases quick.
    static let debounceWindow: Duration = .milliseconds(300)

    static let debounceCases: [ConformanceCase<any PubSub>] = [
        probing("pubsub.debounce-collapses-burst",
                "a burst of identical messages inside the debounce window is delivered once; an undebounced subscription still gets them all") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let debounced = try await probe.receive(subscriber, "refresh", debounce: debounceWindow, label: "debounced subscription")
            let plain = try await probe.receive(subscriber, "refresh", label: "undebounced subscription on the same node")
            let burst = 10
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<burst { group.addTask { try await publisher.publish("refresh", "roles-changed") } }
                try await group.waitForAll()
            }
            try await plain.waitForCount(burst)
            try await debounced.waitFor(text: "roles-changed")
            // A different payload published afterwards: its window opens and ends after the
            // burst's, so once it is here any extra copy of the burst would be too.
            try await publisher.publish("refresh", "marker")
            try await debounced.waitFor(text: "marker")
            try await plain.waitFor(text: "marker")
            try checkEqualList(debounced.texts, ["roles-changed", "marker"], "debounced subscription after a burst of \(burst) identical messages")
            try checkEqualList(plain.texts, Array(repeating: "roles-changed", count: burst) + ["marker"], "undebounced subscription")
        },

        probing("pubsub.debounce-keeps-distinct-payloads",
                "debouncing never merges different payloads: each distinct payload of a burst is delivered exactly once") { context, probe in
            let publisher = try await context.makeNode()
            let subscriber = try await context.makeNode()
            let debounced = try await probe.receive(subscriber, "changes", debounce: debounceWindow, label: "debounced subscription")
            let burst = ["users", "roles", "users", "groups", "roles", "users"]
            for text in burst { try await publisher.publish("changes", text) }
            try await debounced.waitForCount(3)
            try await publisher.publish("changes", "marker")
            try await debounced.waitFor(text: "marker")
            let received = debounced.texts
            try checkEqual(received.last, "marker", "last message of the debounced subscription")
            try checkEqual(received.dropLast().sorted(), ["groups", "roles", "users"],
                           "distinct payloads delivered (sorted) for the burst \(burst)")
        },
    ]
}
