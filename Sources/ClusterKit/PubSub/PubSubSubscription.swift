import Synchronization

/// A live subscription: an `AsyncSequence` of ``PubSubMessage``s that ends after
/// ``cancel()`` (or when its adapter closes).
///
/// Adapters create it with ``init(channel:bufferSize:onCancel:)`` and feed it with
/// ``deliver(_:)`` or, for several messages at once, ``deliver(contentsOf:)``; the debounce
/// logic, when asked for, lives in the adapter.
///
/// ## Semantics
/// - Messages are read in the order they were delivered. Up to `bufferSize` wait for a slow
///   reader; beyond that the oldest are dropped and counted in ``droppedCount``.
/// - After ``cancel()`` nothing more is accepted (`deliver` returns `false`); the reader
///   still gets what was buffered before, then the sequence ends.
/// - Cancelling the task that iterates cancels the subscription (``cancel()``, with its
///   `onCancel`): a reader waiting for a message returns `nil` at once.
/// - Iterate it from one task at a time; two tasks waiting at once is a programming error
///   (it traps, as `AsyncStream` does).
///
/// A `Mutex`-protected buffer and at most one waiting reader, instead of an `AsyncStream`:
/// the standard library's stream is generic and not specialised for callers in other
/// modules, and its metadata lookups per message were about 30 % of a Redis fan-out run
/// under callgrind.
public final class PubSubSubscription: AsyncSequence, Sendable {
    public typealias Element = PubSubMessage
    public typealias Failure = Never

    /// The channel subscribed to.
    public let channel: String
    private let bufferSize: Int
    private let state: Mutex<State>

    private struct State {
        var buffer = PubSubMessageBuffer()
        /// The reader waiting for a message; only while `buffer` is empty and not cancelled.
        var reader: UnsafeContinuation<PubSubMessage?, Never>?
        var cancelled = false
        var dropped = 0
        var onCancel: (@Sendable () -> Void)?

        /// Buffers `message`, dropping the oldest beyond `bufferSize`.
        mutating func keep(_ message: PubSubMessage, bufferSize: Int) {
            if buffer.count >= bufferSize {
                buffer.removeFirst()
                dropped += 1
            }
            buffer.append(message)
        }
    }

    /// What a reader finds when it looks.
    private enum Take {
        case message(PubSubMessage)
        case end
        case wait
    }

    /// - Parameters:
    ///   - bufferSize: messages kept for a slow reader (at least 1); beyond that the oldest
    ///     are dropped.
    ///   - onCancel: called once, when the subscription is cancelled by either side.
    public init(channel: String, bufferSize: Int, onCancel: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.bufferSize = Swift.max(1, bufferSize)
        self.state = Mutex(State(onCancel: onCancel))
    }

    /// Hands a message to the reader. Returns `false` once the subscription is cancelled
    /// (the message is not delivered).
    @discardableResult
    public func deliver(_ message: PubSubMessage) -> Bool {
        let (accepted, reader) = state.withLock { state -> (Bool, UnsafeContinuation<PubSubMessage?, Never>?) in
            if state.cancelled { return (false, nil) }
            if let reader = state.reader {
                state.reader = nil
                return (true, reader)
            }
            state.keep(message, bufferSize: bufferSize)
            return (true, nil)
        }
        // Resumed outside the lock: resuming may take the reading task's status lock, which
        // a cancelled reader holds while its cancellation handler takes ours (cancel()).
        reader?.resume(returning: message)
        return accepted
    }

    /// Hands `messages`, in order, to the reader: one lock and at most one wake-up of the
    /// reader for all of them, with the same buffering and dropping as that many
    /// ``deliver(_:)`` calls. Returns `false` once the subscription is cancelled (none is
    /// delivered).
    @discardableResult
    public func deliver(contentsOf messages: [PubSubMessage]) -> Bool {
        guard let first = messages.first else { return !isCancelled }
        let (accepted, reader) = state.withLock { state -> (Bool, UnsafeContinuation<PubSubMessage?, Never>?) in
            if state.cancelled { return (false, nil) }
            let reader = state.reader
            state.reader = nil
            for message in messages.dropFirst(reader == nil ? 0 : 1) {
                state.keep(message, bufferSize: bufferSize)
            }
            return (true, reader)
        }
        reader?.resume(returning: first)  // outside the lock, as in deliver(_:)
        return accepted
    }

    /// Stops delivery; the sequence ends once the reader has taken what was buffered.
    /// Idempotent; safe from any task.
    public func cancel() {
        let (onCancel, reader) = state.withLock { state -> ((@Sendable () -> Void)?, UnsafeContinuation<PubSubMessage?, Never>?) in
            if state.cancelled { return (nil, nil) }
            state.cancelled = true
            defer {
                state.onCancel = nil
                state.reader = nil
            }
            return (state.onCancel, state.reader)
        }
        reader?.resume(returning: nil)  // a waiting reader means an empty buffer: the end
        onCancel?()
    }

    /// Whether ``cancel()`` has run.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Messages dropped because the reader was too slow.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Whether a reader is parked waiting for a message (for tests).
    var isReaderWaiting: Bool { state.withLock { $0.reader != nil } }

    public func makeAsyncIterator() -> Iterator {
        Iterator(subscription: self)
    }

    /// Reads a ``PubSubSubscription``: the next message, or `nil` once it is cancelled and
    /// its buffer is empty.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = PubSubMessage
        public typealias Failure = Never

        let subscription: PubSubSubscription

        public mutating func next() async -> PubSubMessage? {
            await subscription.next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> PubSubMessage? {
            await subscription.next(isolation: actor)
        }
    }

    /// The next message; waits (cancellably) when none is buffered.
    private func next(isolation actor: isolated (any Actor)?) async -> PubSubMessage? {
        switch take() {
        case .message(let message):
            // A cancelled reading task ends the subscription (as it would when waiting), so
            // that a steady flow of messages cannot keep it reading.
            if Task.isCancelled { cancel() }
            return message
        case .end:
            return nil
        case .wait:
            break
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<PubSubMessage?, Never>) in
                let found = state.withLock { state -> Take in
                    if let message = state.buffer.popFirst() { return .message(message) }
                    if state.cancelled { return .end }
                    precondition(state.reader == nil, "a PubSubSubscription was iterated by two tasks at once")
                    state.reader = continuation
                    return .wait
                }
                switch found {
                case .message(let message): continuation.resume(returning: message)
                case .end: continuation.resume(returning: nil)
                case .wait: break  // resumed by deliver or cancel
                }
            }
        } onCancel: { [self] in
            // Runs at once if the task is already cancelled; otherwise while the reader may
            // be waiting. cancel() resumes it with nil; a reader that registers afterwards
            // sees `cancelled` under the same lock and does not wait.
            cancel()
        }
    }

    private func take() -> Take {
        state.withLock { state in
            if let message = state.buffer.popFirst() { return .message(message) }
            return state.cancelled ? .end : .wait
        }
    }
}
