import Synchronization

/// A live subscription: an `AsyncSequence` of ``PubSubMessage``s that ends after
/// ``cancel()`` (or when its adapter closes).
///
/// Adapters create it with ``init(channel:bufferSize:onCancel:)`` and feed it with
/// ``deliver(_:)``; the debounce logic, when asked for, lives in the adapter.
/// Iterate it from one task.
public final class PubSubSubscription: AsyncSequence, Sendable {
    public typealias Element = PubSubMessage

    /// The channel subscribed to.
    public let channel: String
    private let stream: AsyncStream<PubSubMessage>
    private let continuation: AsyncStream<PubSubMessage>.Continuation
    private let state: Mutex<State>

    private struct State {
        var cancelled = false
        var dropped = 0
        var onCancel: (@Sendable () -> Void)?
    }

    /// - Parameters:
    ///   - bufferSize: messages kept for a slow reader; beyond that the oldest are dropped.
    ///   - onCancel: called once, when the subscription is cancelled by either side.
    public init(channel: String, bufferSize: Int, onCancel: @escaping @Sendable () -> Void) {
        self.channel = channel
        let (stream, continuation) = AsyncStream.makeStream(of: PubSubMessage.self, bufferingPolicy: .bufferingNewest(bufferSize))
        self.stream = stream
        self.continuation = continuation
        self.state = Mutex(State(onCancel: onCancel))
        continuation.onTermination = { [weak self] _ in self?.cancel() }
    }

    /// Hands a message to the reader. Returns `false` once the subscription is cancelled
    /// (the message is not delivered).
    @discardableResult
    public func deliver(_ message: PubSubMessage) -> Bool {
        if state.withLock({ $0.cancelled }) { return false }
        switch continuation.yield(message) {
        case .enqueued: return true
        case .dropped:
            state.withLock { $0.dropped += 1 }
            return true
        case .terminated: return false
        @unknown default: return false
        }
    }

    /// Stops delivery; the sequence ends. Idempotent; safe from any task.
    public func cancel() {
        let onCancel: (@Sendable () -> Void)? = state.withLock { state in
            if state.cancelled { return nil }
            state.cancelled = true
            defer { state.onCancel = nil }
            return state.onCancel
        }
        guard let onCancel else { return }
        continuation.finish()
        onCancel()
    }

    /// Whether ``cancel()`` has run.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Messages dropped because the reader was too slow.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    public func makeAsyncIterator() -> AsyncStream<PubSubMessage>.Iterator {
        stream.makeAsyncIterator()
    }
}
