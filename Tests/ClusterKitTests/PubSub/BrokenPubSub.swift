import ClusterKit
import Synchronization

/// A memory pub/sub node with one deliberate defect, to prove the conformance cases catch
/// real mistakes adapters make. ``Flaw/none`` is the control: a faithful wrapper.
final class BrokenPubSub: PubSub {
    enum Flaw: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Faithful: forwards everything unchanged.
        case none
        /// Delivers skipSelf messages to the publisher too.
        case ignoresSkipSelf
        /// Delivers onlySelf messages to every node.
        case ignoresOnlySelf
        /// Every subscription receives every message twice.
        case deliversTwice
        /// Swaps each pair of consecutive messages.
        case reorders
        /// Subscribes without the requested debounce window.
        case ignoresDebounce
        /// Debounces by channel only, merging different payloads.
        case debouncesByChannelOnly
        /// Ignores the app name: every app shares one namespace.
        case ignoresAppName
        /// close() only rejects new calls; subscriptions and debounces keep delivering.
        case keepsDeliveringAfterClose
        /// Cuts payloads to 64 KiB.
        case truncatesLargePayloads
        /// Round-trips payloads through String (invalid UTF-8 gets replaced).
        case textOnlyPayloads
        /// Publishes and subscribes on any channel name, invalid ones included.
        case acceptsAnyChannel
        /// A second subscription to a channel on one node doubles deliveries to both.
        case duplicateSubscriptionsDoubleDeliver

        var description: String { rawValue }
    }

    let flaw: Flaw
    private let inner: MemoryPubSub<ContinuousClock>
    private let closed = Mutex(false)
    private let subscribedChannels = Mutex<[String: Int]>([:])

    init(flaw: Flaw, backend: MemoryBackend, appName: String, nodeID: NodeID) {
        self.flaw = flaw
        self.inner = MemoryPubSub(backend: backend, appName: flaw == .ignoresAppName ? "shared" : appName, nodeID: nodeID)
    }

    var nodeID: NodeID { inner.nodeID }
    var capabilities: PubSubCapabilities { inner.capabilities }

    func publish(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) async throws {
        if closed.withLock({ $0 }) { throw PubSubError.closed }
        var options = options
        var payload = payload
        var channel = channel
        switch flaw {
        case .ignoresSkipSelf: options.skipSelf = false
        case .ignoresOnlySelf: options.onlySelf = false
        case .truncatesLargePayloads: payload = Array(payload.prefix(64 * 1024))
        case .textOnlyPayloads: payload = Array(String(decoding: payload, as: UTF8.self).utf8)
        case .acceptsAnyChannel: channel = Self.escaped(channel)
        default: break
        }
        try await inner.publish(channel, payload, options: options)
    }

    func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription {
        if closed.withLock({ $0 }) { throw PubSubError.closed }
        var options = options
        switch flaw {
        case .ignoresDebounce:
            options.debounce = nil
        case .debouncesByChannelOnly:
            if let window = options.debounce {
                options.debounce = nil
                let inner = try await inner.subscribe(channel, options: options)
                return Self.channelDebounced(inner, window: window)
            }
        case .reorders:
            return Self.forwarding(try await inner.subscribe(channel, options: options)) { message, previous, deliver in
                if let held = previous { deliver(message); deliver(held); return nil }
                return message
            }
        case .deliversTwice:
            return Self.forwarding(try await inner.subscribe(channel, options: options)) { message, _, deliver in
                deliver(message); deliver(message); return nil
            }
        case .duplicateSubscriptionsDoubleDeliver:
            let count = subscribedChannels.withLock { $0[channel, default: 0] += 1; return $0[channel]! }
            let copies = count > 1 ? 2 : 1
            let subscription = try await inner.subscribe(channel, options: options)
            return Self.forwarding(subscription) { message, _, deliver in
                for _ in 0..<copies { deliver(message) }
                return nil
            }
        case .acceptsAnyChannel:
            return try await inner.subscribe(Self.escaped(channel), options: options)
        default:
            break
        }
        return try await inner.subscribe(channel, options: options)
    }

    func close() async {
        closed.withLock { $0 = true }
        if flaw != .keepsDeliveringAfterClose { await inner.close() }
    }

    /// A valid channel name standing for any string.
    private static func escaped(_ channel: String) -> String {
        "x" + channel.utf8.map { String($0, radix: 16) }.joined()
    }

    /// A subscription fed from `inner` through `transform`, which may hold one message back
    /// (its return value, passed in again with the next message).
    private static func forwarding(
        _ inner: PubSubSubscription,
        _ transform: @escaping @Sendable (PubSubMessage, PubSubMessage?, (PubSubMessage) -> Void) -> PubSubMessage?
    ) -> PubSubSubscription {
        let outer = PubSubSubscription(channel: inner.channel, bufferSize: 10_000) { inner.cancel() }
        Task {
            var held: PubSubMessage?
            for await message in inner {
                held = transform(message, held) { outer.deliver($0) }
            }
            outer.cancel()
        }
        return outer
    }

    /// A subscription debounced on the channel alone: one delivery per window, whatever
    /// payloads arrived.
    private static func channelDebounced(_ inner: PubSubSubscription, window: Duration) -> PubSubSubscription {
        let latest = Latest()
        let outer = PubSubSubscription(channel: inner.channel, bufferSize: 10_000) { inner.cancel() }
        let debouncer = PubSubDebouncer(window: window, clock: ContinuousClock()) { _ in
            if let message = latest.take() { outer.deliver(message) }
        }
        Task {
            for await message in inner {
                latest.set(message)
                debouncer.submit(PubSubMessage(channel: message.channel, payload: [], publisherID: message.publisherID, isFromSelf: false))
            }
            debouncer.cancel()
            outer.cancel()
        }
        return outer
    }

    private final class Latest: Sendable {
        private let value = Mutex<PubSubMessage?>(nil)
        func set(_ message: PubSubMessage) { value.withLock { $0 = message } }
        func take() -> PubSubMessage? { value.withLock { value in defer { value = nil }; return value } }
    }
}
