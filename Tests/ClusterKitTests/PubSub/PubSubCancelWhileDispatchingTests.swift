import ClusterKit
import Foundation
import Synchronization
import Testing

/// Cancelling a reading task while messages are being dispatched to it must not deadlock:
/// the cancelled task holds its status lock while its stream's termination handler removes
/// the subscription from the dispatcher, and a dispatch resuming that same task needs the
/// status lock. (Seen in a Redis pub/sub test before the dispatcher stopped delivering under
/// its state lock.) Both sides run on plain threads so a deadlock shows as a failure after a
/// deadline instead of a hung test.
@Suite("PubSubLocalDispatcher: cancel while dispatching")
struct PubSubCancelWhileDispatchingTests {
    @Test func cancellingTheReaderDuringDispatchDoesNotDeadlock() async throws {
        for round in 0..<200 {
            let dispatcher = PubSubLocalDispatcher(nodeID: NodeID("me"), clock: ContinuousClock())
            let subscription = try dispatcher.subscribe("c", options: .init())
            let reader = Task { for await _ in subscription {} }
            let stop = Atomic(false)
            let finished = Atomic(0)
            Thread.detachNewThread {
                var index: UInt8 = 0
                while !stop.load(ordering: .relaxed) {
                    dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [index], publisherID: NodeID("other")))
                    index &+= 1
                }
                finished.add(1, ordering: .relaxed)
            }
            Thread.detachNewThread {
                usleep(UInt32.random(in: 0 ... 300))
                reader.cancel()
                finished.add(1, ordering: .relaxed)
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if finished.load(ordering: .relaxed) == 1 { stop.store(true, ordering: .relaxed) }
                if finished.load(ordering: .relaxed) == 2 { break }
                try await Task.sleep(for: .milliseconds(1))
            }
            stop.store(true, ordering: .relaxed)
            try #require(finished.load(ordering: .relaxed) == 2, "round \(round): dispatch and cancel deadlocked")
            await reader.value
            #expect(subscription.isCancelled)
            #expect(dispatcher.subscriptionCount == 0)
        }
    }
}
