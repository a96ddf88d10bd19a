import Synchronization

/// Collapses identical messages of one subscription into one trailing delivery.
///
/// ## Semantics
/// - Two messages are identical when they have the same channel and the same payload bytes
///   (the publisher does not matter: "the roles table changed" from two nodes is one signal).
/// - The first message of a kind opens a window of `window`; further identical messages
///   inside it are absorbed. When the window ends, the most recent of them is delivered once.
///   The window is fixed from the first message, not extended by later ones, so a steady
///   stream of identical signals is still delivered about once per window instead of never.
/// - A message that arrives after its window has been delivered opens a new window.
/// - Different payloads never merge: each has its own window with its own timer, so they
///   are delivered in the order their windows end; windows ending at (nearly) the same
///   instant may be delivered in either order.
/// - After ``cancel()`` nothing is delivered: pending windows are dropped and their timers
///   cancelled, and later ``submit(_:)`` calls are ignored.
///
/// Adapters use one debouncer per debounced subscription (``PubSubLocalDispatcher`` does
/// this); timers run on the injected clock, so tests drive them with ``ManualClock``.
public final class PubSubDebouncer<C: Clock>: Sendable where C.Duration == Duration {
    /// What makes two messages "identical".
    private struct Key: Hashable, Sendable {
        let channel: String
        let payload: [UInt8]
    }

    private struct Pending {
        /// The latest message of the window: the one delivered when it ends.
        var message: PubSubMessage
        var timer: Task<Void, Never>
    }

    private struct State {
        var cancelled = false
        var pending: [Key: Pending] = [:]
    }

    /// How long a window stays open after its first message.
    public let window: Duration
    private let clock: C
    private let deliver: @Sendable (PubSubMessage) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - window: the debounce window; must be positive.
    ///   - clock: the clock the window is measured on.
    ///   - deliver: receives each trailing message, from a timer task, never after
    ///     ``cancel()`` has returned. It is called with the debouncer's lock held, so it
    ///     must not block or call back into the debouncer (handing the message to a
    ///     ``PubSubSubscription`` is fine).
    public init(window: Duration, clock: C, deliver: @escaping @Sendable (PubSubMessage) -> Void) {
        precondition(window > .zero, "a debounce window must be positive")
        self.window = window
        self.clock = clock
        self.deliver = deliver
    }

    /// Adds `message` to its window, opening one (and starting its timer) if none is open.
    public func submit(_ message: PubSubMessage) {
        let key = Key(channel: message.channel, payload: message.payload)
        state.withLock { state in
            guard !state.cancelled else { return }
            if state.pending[key] != nil {
                state.pending[key]?.message = message
                return
            }
            // The timer is created under the lock so that its handle is stored before
            // cancel() can look for it; it cannot fire before the lock is released.
            let deadline = clock.now.advanced(by: window)
            let timer = Task { [clock, weak self] in
                do {
                    try await clock.sleep(until: deadline, tolerance: nil)
                } catch {
                    return // cancelled: the window was dropped
                }
                self?.fire(key)
            }
            state.pending[key] = Pending(message: message, timer: timer)
        }
    }

    /// Drops every pending window and stops all timers; nothing is delivered afterwards.
    /// Idempotent.
    public func cancel() {
        let timers = state.withLock { state -> [Task<Void, Never>] in
            state.cancelled = true
            defer { state.pending.removeAll() }
            return state.pending.values.map(\.timer)
        }
        for timer in timers { timer.cancel() }
    }

    /// Whether ``cancel()`` has run.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// The number of open windows (distinct payloads waiting for their trailing delivery).
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    private func fire(_ key: Key) {
        // Delivering under the lock makes "nothing after cancel() returned" exact: cancel()
        // waits for the lock, so a delivery either completes before it or never starts.
        // `deliver` only hands the message to a buffer and never calls back into this type.
        state.withLock { state in
            guard !state.cancelled, let pending = state.pending.removeValue(forKey: key) else { return }
            deliver(pending.message)
        }
    }
}
