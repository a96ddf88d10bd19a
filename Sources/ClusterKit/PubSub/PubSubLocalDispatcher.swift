import Synchronization

/// One node's subscriptions, and the delivery of received envelopes to them: the part of a
/// pub/sub adapter that is the same whatever carries the messages.
///
/// An adapter keeps one dispatcher per node. ``subscribe(_:options:)`` creates the
/// subscriptions the adapter returns; whatever transport the adapter uses (the in-process
/// bus, a Redis stream reader) hands every envelope received for this node to
/// ``dispatch(_:)``, which
/// - drops it unless it may reach this node (``PubSubEnvelope/isDeliverable(to:)``:
///   `skipSelf` keeps it from the publisher, `onlySelf` keeps it from everyone else),
/// - gives every live subscription of its channel exactly one copy (two subscriptions on
///   one channel get one copy each; a subscription never gets a message twice from one
///   dispatch),
/// - routes debounced subscriptions through their own ``PubSubDebouncer``.
///
/// ## Ordering
/// Dispatch is serialised: every subscription sees messages in the order of the
/// ``dispatch(_:)`` calls, so a transport that dispatches in publish order preserves
/// publish order per channel.
///
/// ## Cancellation and close
/// Cancelling a subscription removes it and drops its pending debounced messages. After
/// ``close()`` every subscription is cancelled, pending debounces are dropped, `dispatch`
/// delivers nothing and `subscribe` throws ``PubSubError/closed``.
///
/// The transport may watch ``subscribedChannels`` (e.g. to decide which streams to read):
/// `onSubscriptionsChanged` is called after every change of the set of subscriptions, outside
/// any lock, with no arguments, so a late call never carries stale data — read the current
/// set when it fires.
public final class PubSubLocalDispatcher<C: Clock>: Sendable where C.Duration == Duration {
    private struct Entry: Sendable {
        let subscription: PubSubSubscription
        let debouncer: PubSubDebouncer<C>?
    }

    private struct State {
        var closed = false
        var nextID: UInt64 = 0
        var byChannel: [String: [UInt64: Entry]] = [:]
    }

    /// The node whose subscriptions these are (the receiver for `skipSelf`/`onlySelf`).
    public let nodeID: NodeID
    private let clock: C
    private let onSubscriptionsChanged: @Sendable () -> Void
    private let state = Mutex(State())
    /// Held for a whole ``dispatch(_:)``, never while taking `state` from elsewhere: only
    /// orders dispatches. Nothing that runs under it calls back into this type.
    private let dispatchOrder = Mutex(())

    /// - Parameters:
    ///   - nodeID: the node the subscriptions belong to.
    ///   - clock: measures debounce windows.
    ///   - onSubscriptionsChanged: called after a subscription is added or removed.
    public init(nodeID: NodeID, clock: C, onSubscriptionsChanged: @escaping @Sendable () -> Void = {}) {
        self.nodeID = nodeID
        self.clock = clock
        self.onSubscriptionsChanged = onSubscriptionsChanged
    }

    /// A new subscription to `channel` that receives everything dispatched from now on.
    ///
    /// A `debounce` of zero or less means no debouncing.
    /// - Throws: ``PubSubError/Code/invalidChannel`` for a bad channel name,
    ///   ``PubSubError/closed`` after ``close()``.
    public func subscribe(_ channel: String, options: PubSubSubscribeOptions) throws(PubSubError) -> PubSubSubscription {
        try PubSubChannelRules.validate(channel)
        let subscription = try state.withLock { state throws(PubSubError) -> PubSubSubscription in
            guard !state.closed else { throw PubSubError.closed }
            state.nextID += 1
            let id = state.nextID
            let subscription = PubSubSubscription(channel: channel, bufferSize: options.bufferSize) { [weak self] in
                self?.remove(channel: channel, id: id)
            }
            var debouncer: PubSubDebouncer<C>?
            if let window = options.debounce, window > .zero {
                debouncer = PubSubDebouncer(window: window, clock: clock) { [weak subscription] message in
                    subscription?.deliver(message)
                }
            }
            state.byChannel[channel, default: [:]][id] = Entry(subscription: subscription, debouncer: debouncer)
            return subscription
        }
        onSubscriptionsChanged()
        return subscription
    }

    /// Delivers `envelope` to this node's subscriptions of its channel, if the routing
    /// options allow this node to receive it. Returns how many subscriptions took it
    /// (immediately or into a debounce window).
    ///
    /// Specialised for `ContinuousClock` (what every adapter uses): called from another
    /// module, the generic body looked up the metadata of `Entry`, its dictionary and array
    /// at run time on every call — about 15 % of a Redis pub/sub fan-out run under callgrind.
    @discardableResult
    @_specialize(where C == ContinuousClock)
    public func dispatch(_ envelope: PubSubEnvelope) -> Int {
        guard envelope.isDeliverable(to: nodeID) else { return 0 }
        let message = envelope.message(for: nodeID)
        // `dispatchOrder` serialises dispatches (one order for all subscriptions). The
        // subscriptions are read under `state` but handed the message after it is released:
        // handing over resumes the reading task, which takes that task's status lock, while a
        // cancelled reading task holds its status lock and calls `remove`, which takes
        // `state` — delivering under `state` deadlocked those two. A subscription cancelled
        // or closed in between refuses the message (`deliver` returns false), so close()
        // stays exact.
        return dispatchOrder.withLock { _ in
            let entries = state.withLock { state -> [Entry] in
                guard !state.closed, let entries = state.byChannel[envelope.channel] else { return [] }
                return Array(entries.values)
            }
            var taken = 0
            for entry in entries {
                if let debouncer = entry.debouncer {
                    debouncer.submit(message)
                    taken += 1
                } else if entry.subscription.deliver(message) {
                    taken += 1
                }
            }
            return taken
        }
    }

    /// Delivers `envelopes`, in order, as that many ``dispatch(_:)`` calls would, but hands
    /// each run of consecutive envelopes of one channel to each subscription at once
    /// (``PubSubSubscription/deliver(contentsOf:)``: one lock and at most one wake-up of
    /// its reader per run). Returns the number of deliveries (envelope × subscription taken).
    ///
    /// For a transport that receives messages in batches (a Redis `XREAD` reply); no other
    /// dispatch is interleaved into the batch.
    @discardableResult
    @_specialize(where C == ContinuousClock)
    public func dispatch(contentsOf envelopes: [PubSubEnvelope]) -> Int {
        dispatchOrder.withLock { _ in
            var taken = 0
            var start = envelopes.startIndex
            while start < envelopes.endIndex {
                let channel = envelopes[start].channel
                var end = start + 1
                while end < envelopes.endIndex, envelopes[end].channel == channel { end += 1 }
                taken += deliverRun(envelopes[start..<end], channel: channel)
                start = end
            }
            return taken
        }
    }

    /// Delivers envelopes of one `channel`; the caller holds `dispatchOrder`.
    private func deliverRun(_ envelopes: ArraySlice<PubSubEnvelope>, channel: String) -> Int {
        var messages: [PubSubMessage] = []
        messages.reserveCapacity(envelopes.count)
        // Whether the publisher is this node, worked out once per run of envelopes from one
        // publisher (a transport's decoder shares one NodeID among them, so recognising it
        // again is a pointer comparison): comparing two different node IDs' text twice per
        // envelope cost ~250 instructions per delivery under callgrind.
        var publisher: NodeID?
        var isFromSelf = false
        for envelope in envelopes {
            if publisher != envelope.publisherID {
                publisher = envelope.publisherID
                isFromSelf = envelope.publisherID == nodeID
            }
            if envelope.isDeliverable(isFromSelf: isFromSelf) {
                messages.append(envelope.message(isFromSelf: isFromSelf))
            }
        }
        guard !messages.isEmpty else { return 0 }
        let entries = state.withLock { state -> [Entry] in  // see dispatch(_:) for why not under `state`
            guard !state.closed, let entries = state.byChannel[channel] else { return [] }
            return Array(entries.values)
        }
        var taken = 0
        for entry in entries {
            if let debouncer = entry.debouncer {
                for message in messages { debouncer.submit(message) }
                taken += messages.count
            } else if entry.subscription.deliver(contentsOf: messages) {
                taken += messages.count
            }
        }
        return taken
    }

    /// The channels with at least one live subscription.
    public var subscribedChannels: Set<String> {
        state.withLock { Set($0.byChannel.keys) }
    }

    /// The number of live subscriptions.
    public var subscriptionCount: Int {
        state.withLock { $0.byChannel.values.reduce(0) { $0 + $1.count } }
    }

    /// Whether ``close()`` has run.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Cancels every subscription and pending debounce; afterwards nothing is delivered and
    /// ``subscribe(_:options:)`` throws ``PubSubError/closed``. Idempotent.
    public func close() {
        let entries = state.withLock { state -> [Entry] in
            state.closed = true
            defer { state.byChannel.removeAll() }
            return state.byChannel.values.flatMap(\.values)
        }
        for entry in entries {
            entry.debouncer?.cancel()
            entry.subscription.cancel()
        }
        if !entries.isEmpty { onSubscriptionsChanged() }
    }

    private func remove(channel: String, id: UInt64) {
        let removed = state.withLock { state -> Entry? in
            guard let entry = state.byChannel[channel]?.removeValue(forKey: id) else { return nil }
            if state.byChannel[channel]?.isEmpty == true { state.byChannel[channel] = nil }
            return entry
        }
        guard let removed else { return }
        removed.debouncer?.cancel()
        onSubscriptionsChanged()
    }
}
