@testable import ClusterKit
import ClusterKitConformance
import Synchronization
import Testing

/// A counter shared with closures (an `Atomic` cannot be captured or returned in a tuple).
final class SharedCount: Sendable {
    private let count = Atomic(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A flag shared with closures.
final class SharedFlag: Sendable {
    private let flag = Atomic(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// The subscription's own buffer: drop-oldest counting, batch hand-over order, and every way
/// a reader can end (cancel while it waits, cancel of its task) without hanging.
@Suite("PubSubSubscription")
struct PubSubSubscriptionTests {
    func message(_ text: String) -> PubSubMessage {
        PubSubMessage(channel: "c", payload: Array(text.utf8), publisherID: NodeID("p"), isFromSelf: false)
    }

    func messages(_ texts: [String]) -> [PubSubMessage] { texts.map(message) }

    /// A subscription whose `onCancel` calls are counted.
    func subscription(bufferSize: Int = 100) -> (PubSubSubscription, SharedCount) {
        let cancels = SharedCount()
        return (PubSubSubscription(channel: "c", bufferSize: bufferSize) { cancels.increment() }, cancels)
    }

    /// What is buffered, after cancelling (a cancelled subscription still yields its buffer).
    func drain(_ subscription: PubSubSubscription) async -> [String] {
        subscription.cancel()
        var texts: [String] = []
        for await message in subscription { texts.append(message.text) }
        return texts
    }

    /// Starts a task reading `subscription` to its end, and waits until it is parked
    /// waiting for a message.
    func waitingReader(_ subscription: PubSubSubscription) async throws -> (Task<[String], Never>, SharedFlag) {
        let ended = SharedFlag()
        let reader = Task { [ended] in
            var texts: [String] = []
            for await message in subscription { texts.append(message.text) }
            ended.set()
            return texts
        }
        try await eventually("the reader is waiting", timeout: .seconds(5), interval: .milliseconds(1)) {
            subscription.isReaderWaiting
        }
        return (reader, ended)
    }

    @Test func dropsTheOldestBeyondTheBufferAndCountsThem() async {
        let (subscription, _) = subscription(bufferSize: 3)
        for index in 0..<5 { #expect(subscription.deliver(message("m\(index)"))) }
        #expect(subscription.droppedCount == 2)
        #expect(await drain(subscription) == ["m2", "m3", "m4"])
    }

    @Test func aBatchIsBufferedInOrderWithTheSameDropping() async {
        let (subscription, _) = subscription(bufferSize: 4)
        #expect(subscription.deliver(message("a")))
        #expect(subscription.deliver(contentsOf: messages(["b", "c", "d", "e", "f"])))
        #expect(subscription.droppedCount == 2)
        #expect(subscription.deliver(contentsOf: []))
        #expect(await drain(subscription) == ["c", "d", "e", "f"])
    }

    @Test func aBatchWakesAWaitingReaderWithItsFirstMessageAndKeepsOrder() async throws {
        let (subscription, _) = subscription(bufferSize: 100)
        let (reader, _) = try await waitingReader(subscription)
        #expect(subscription.deliver(contentsOf: messages(["1", "2", "3"])))
        #expect(subscription.deliver(message("4")))
        #expect(subscription.deliver(contentsOf: messages(["5", "6"])))
        try await eventually("the reader took the first batch", timeout: .seconds(5), interval: .milliseconds(1)) {
            subscription.isReaderWaiting
        }
        subscription.cancel()
        #expect(await reader.value == ["1", "2", "3", "4", "5", "6"])
        #expect(subscription.droppedCount == 0)
    }

    @Test func aWaitingReaderTakesMessagesOneByOne() async throws {
        let (subscription, _) = subscription()
        var iterator = subscription.makeAsyncIterator()
        let first = Task { await iterator.next() }
        try await eventually("the reader is waiting", timeout: .seconds(5), interval: .milliseconds(1)) {
            subscription.isReaderWaiting
        }
        #expect(subscription.deliver(message("x")))
        #expect(await first.value?.text == "x")
        #expect(!subscription.isReaderWaiting)
    }

    @Test func cancelEndsAWaitingReaderAndCallsOnCancelOnce() async throws {
        let (subscription, cancels) = subscription()
        #expect(subscription.deliver(message("before")))
        let (reader, ended) = try await waitingReader(subscription)
        // Another task cancels; the reader must end, not hang.
        await Task.detached { subscription.cancel() }.value
        try await eventually("the waiting reader ended after cancel()", timeout: .seconds(5), interval: .milliseconds(1)) {
            ended.isSet
        }
        #expect(await reader.value == ["before"])
        subscription.cancel()
        #expect(subscription.isCancelled)
        #expect(cancels.value == 1)
    }

    @Test func nothingIsAcceptedAfterCancelButTheBufferIsStillRead() async {
        let (subscription, cancels) = subscription()
        #expect(subscription.deliver(contentsOf: messages(["a", "b"])))
        subscription.cancel()
        #expect(!subscription.deliver(message("late")))
        #expect(!subscription.deliver(contentsOf: messages(["later"])))
        #expect(!subscription.deliver(contentsOf: []))
        #expect(await drain(subscription) == ["a", "b"])
        var iterator = subscription.makeAsyncIterator()
        #expect(await iterator.next() == nil, "an ended subscription stays ended")
        #expect(cancels.value == 1)
    }

    @Test func cancellingTheWaitingTaskEndsIterationAndCancelsTheSubscription() async throws {
        let (subscription, cancels) = subscription()
        let (reader, ended) = try await waitingReader(subscription)
        reader.cancel()
        try await eventually("the reading task ended after its cancellation", timeout: .seconds(5), interval: .milliseconds(1)) {
            ended.isSet
        }
        #expect(await reader.value == [])
        #expect(subscription.isCancelled)
        #expect(cancels.value == 1)
        #expect(!subscription.deliver(message("after")))
    }

    @Test func aTaskCancelledBeforeReadingDoesNotWait() async throws {
        let (subscription, cancels) = subscription()
        let start = SharedFlag()
        let reader = Task {
            while !start.isSet { await Task.yield() }
            var count = 0
            for await _ in subscription { count += 1 }
            return count
        }
        reader.cancel()
        start.set()
        let ended = SharedFlag()
        Task { _ = await reader.value; ended.set() }
        try await eventually("the cancelled task's read returned", timeout: .seconds(5), interval: .milliseconds(1)) {
            ended.isSet
        }
        #expect(await reader.value == 0)
        #expect(subscription.isCancelled)
        #expect(cancels.value == 1)
    }

    @Test func aCancelledTaskReadsWhatWasBufferedThenEndsEvenWhileMessagesKeepComing() async throws {
        let (subscription, cancels) = subscription(bufferSize: 1_000)
        #expect(subscription.deliver(contentsOf: messages(["1", "2", "3"])))
        let start = SharedFlag()
        let reader = Task {
            while !start.isSet { await Task.yield() }
            var texts: [String] = []
            for await message in subscription {
                texts.append(message.text)
                // A publisher that never stops: only the task's cancellation can end this.
                subscription.deliver(self.message("more"))
            }
            return texts
        }
        reader.cancel()
        start.set()
        let texts = await reader.value
        #expect(texts == ["1", "2", "3"], "the reader stops once the buffer it had is read")
        #expect(subscription.isCancelled)
        #expect(cancels.value == 1)
    }

    @Test func concurrentDeliveriesAndCancelNeverHangTheReader() async throws {
        for _ in 0..<200 {
            let (subscription, cancels) = subscription(bufferSize: 8)
            let reader = Task {
                var count = 0
                for await _ in subscription { count += 1 }
                return count
            }
            let producer = Task.detached {
                var delivered = 0
                for index in 0..<500 {
                    let accepted = index % 3 == 0
                        ? subscription.deliver(contentsOf: [self.message("b\(index)"), self.message("c\(index)")])
                        : subscription.deliver(self.message("m\(index)"))
                    if !accepted { break }
                    delivered += 1
                }
                return delivered
            }
            Task.detached { subscription.cancel() }
            _ = await producer.value
            let ended = SharedFlag()
            Task { _ = await reader.value; ended.set() }
            try await eventually("the reader ended after a cancel racing deliveries", timeout: .seconds(5), interval: .milliseconds(1)) {
                ended.isSet
            }
            #expect(subscription.isCancelled)
            #expect(cancels.value == 1)
        }
    }
}
