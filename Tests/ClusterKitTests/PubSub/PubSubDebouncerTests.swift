import ClusterKit
import ClusterKitConformance
import Testing

/// The debounce windows, driven by a ``ManualClock``: no sleeping, exact window edges.
@Suite("PubSubDebouncer")
struct PubSubDebouncerTests {
    let clock = ManualClock()
    let delivered = Collector<PubSubMessage>()
    let window: Duration = .milliseconds(100)

    func makeDebouncer() -> PubSubDebouncer<ManualClock> {
        let delivered = self.delivered
        return PubSubDebouncer(window: window, clock: clock) { delivered.append($0) }
    }

    func message(_ text: String, channel: String = "c", from publisher: String = "a") -> PubSubMessage {
        PubSubMessage(channel: channel, payload: Array(text.utf8), publisherID: NodeID(publisher), isFromSelf: false)
    }

    /// Waits until `count` window timers are asleep on the clock, so advancing reaches them.
    func waitForTimers(_ count: Int) async throws {
        try await eventually("\(count) debounce timer(s) asleep on the clock, have \(clock.sleeperCount)", timeout: .seconds(2), interval: .milliseconds(1)) {
            clock.sleeperCount == count
        }
    }

    func waitForDeliveries(_ count: Int) async throws {
        try await eventually("\(count) deliveries, have \(delivered.count)", timeout: .seconds(2), interval: .milliseconds(1)) {
            delivered.count >= count
        }
    }

    @Test func burstOfIdenticalMessagesIsDeliveredOnceAtTheEndOfTheWindow() async throws {
        let debouncer = makeDebouncer()
        for publisher in ["a", "b", "c"] { debouncer.submit(message("refresh", from: publisher)) }
        try await waitForTimers(1)
        #expect(debouncer.pendingCount == 1)

        clock.advance(by: window - .nanoseconds(1))
        #expect(clock.sleeperCount == 1, "the window must still be open just before its end")
        #expect(delivered.count == 0)

        clock.advance(by: .nanoseconds(1))
        try await waitForDeliveries(1)
        #expect(delivered.values.map(\.text) == ["refresh"])
        #expect(delivered.values.first?.publisherID == NodeID("c"), "the trailing delivery is the latest message of the window")
        #expect(debouncer.pendingCount == 0)
    }

    @Test func windowIsFixedFromTheFirstMessageNotExtended() async throws {
        let debouncer = makeDebouncer()
        debouncer.submit(message("x"))
        try await waitForTimers(1)
        clock.advance(by: .milliseconds(90))
        debouncer.submit(message("x")) // absorbed, does not restart the window
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .milliseconds(10))
        try await waitForDeliveries(1)

        // After the delivery, the same payload opens a new window.
        debouncer.submit(message("x"))
        try await waitForTimers(1)
        clock.advance(by: window)
        try await waitForDeliveries(2)
        #expect(delivered.values.map(\.text) == ["x", "x"])
    }

    @Test func differentPayloadsHaveTheirOwnWindows() async throws {
        let debouncer = makeDebouncer()
        debouncer.submit(message("users"))
        try await waitForTimers(1)
        clock.advance(by: .milliseconds(30))
        debouncer.submit(message("roles"))
        debouncer.submit(message("users"))
        try await waitForTimers(2)
        #expect(debouncer.pendingCount == 2)

        clock.advance(by: .milliseconds(70)) // ends the "users" window only
        try await waitForDeliveries(1)
        #expect(delivered.values.map(\.text) == ["users"])
        #expect(clock.sleeperCount == 1)

        clock.advance(by: .milliseconds(30))
        try await waitForDeliveries(2)
        #expect(delivered.values.map(\.text) == ["users", "roles"])
    }

    @Test func samePayloadOnAnotherChannelIsNotMerged() async throws {
        let debouncer = makeDebouncer()
        debouncer.submit(message("x", channel: "one"))
        debouncer.submit(message("x", channel: "two"))
        #expect(debouncer.pendingCount == 2)
        try await waitForTimers(2)
        clock.advance(by: window)
        try await waitForDeliveries(2)
        #expect(Set(delivered.values.map(\.channel)) == ["one", "two"])
    }

    @Test func cancelDropsPendingWindowsAndStopsTheirTimers() async throws {
        let debouncer = makeDebouncer()
        debouncer.submit(message("a"))
        debouncer.submit(message("b"))
        try await waitForTimers(2)

        debouncer.cancel()
        #expect(debouncer.isCancelled)
        #expect(debouncer.pendingCount == 0)
        // Cancelled timers leave the clock: nothing is left to fire.
        try await waitForTimers(0)

        debouncer.submit(message("c"))
        #expect(debouncer.pendingCount == 0, "submit after cancel() is ignored")
        #expect(clock.sleeperCount == 0)
        clock.advance(by: window * 10)
        #expect(delivered.count == 0)

        debouncer.cancel() // idempotent
        #expect(debouncer.isCancelled)
    }
}
