import ClusterKit
import Synchronization

/// Reads a ``PubSubSubscription`` in a background task and keeps what arrived, so that a
/// case can wait for messages and then check exactly what was (and was not) delivered.
public final class PubSubReceiver: Sendable {
    /// The subscription being read.
    public let subscription: PubSubSubscription
    /// A label for failure messages ("subscriber on node B").
    public let label: String
    private let inbox: Inbox
    private let task: Task<Void, Never>

    /// What the background reader recorded.
    private final class Inbox: Sendable {
        private struct State {
            var messages: [PubSubMessage] = []
            var ended = false
        }
        private let state = Mutex(State())
        func append(_ message: PubSubMessage) { state.withLock { $0.messages.append(message) } }
        func end() { state.withLock { $0.ended = true } }
        var messages: [PubSubMessage] { state.withLock { $0.messages } }
        var count: Int { state.withLock { $0.messages.count } }
        var ended: Bool { state.withLock { $0.ended } }
    }

    /// Starts reading `subscription` until it ends or ``stop()`` is called.
    public init(_ subscription: PubSubSubscription, label: String) {
        let inbox = Inbox()
        self.subscription = subscription
        self.label = label
        self.inbox = inbox
        self.task = Task {
            for await message in subscription { inbox.append(message) }
            inbox.end()
        }
    }

    /// Everything received so far, in arrival order.
    public var messages: [PubSubMessage] { inbox.messages }
    /// The payloads received so far as text.
    public var texts: [String] { inbox.messages.map(\.text) }
    /// How many messages arrived.
    public var count: Int { inbox.count }
    /// Whether the subscription's sequence has ended.
    public var hasEnded: Bool { inbox.ended }

    /// Waits until at least `count` messages arrived.
    public func waitForCount(_ count: Int, timeout: Duration = .seconds(5)) async throws {
        try await eventually("\(label): expected at least \(count) messages, got \(self.count): \(summary)", timeout: timeout) {
            self.count >= count
        }
    }

    /// Waits until a message with payload `text` arrived.
    public func waitFor(text: String, timeout: Duration = .seconds(5)) async throws {
        try await eventually("\(label): expected message '\(text)', got \(summary)", timeout: timeout) {
            self.texts.contains(text)
        }
    }

    /// Waits until the subscription's sequence has ended.
    public func waitUntilEnded(_ why: String, timeout: Duration = .seconds(5)) async throws {
        try await eventually("\(label): the subscription's sequence should end after \(why)", timeout: timeout) {
            self.hasEnded
        }
    }

    /// The received payloads for a failure message (long lists shortened).
    public var summary: String {
        let all = texts
        let shown = all.prefix(12).map { $0.count > 40 ? String($0.prefix(40)) + "…" : $0 }
        return "\(all.count) message(s) [" + shown.joined(separator: ", ") + (all.count > 12 ? ", …]" : "]")
    }

    /// Stops reading and cancels the subscription.
    public func stop() {
        task.cancel()
        subscription.cancel()
    }
}

/// The receivers a case opened; stopped when the case ends, whatever the outcome.
final class PubSubProbe: Sendable {
    private let receivers = Mutex<[PubSubReceiver]>([])

    /// Subscribes `node` to `channel` and reads it in the background.
    func receive(_ node: any PubSub, _ channel: String, debounce: Duration? = nil, label: String) async throws -> PubSubReceiver {
        let subscription = try await node.subscribe(channel, options: PubSubSubscribeOptions(debounce: debounce))
        let receiver = PubSubReceiver(subscription, label: label)
        receivers.withLock { $0.append(receiver) }
        return receiver
    }

    func stopAll() {
        for receiver in receivers.withLock({ $0 }) { receiver.stop() }
    }
}
