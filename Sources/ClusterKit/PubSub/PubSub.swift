/// Cluster sync signals: a node publishes a small message on a channel and every subscribed
/// node receives it ("the roles table changed, drop your copy").
///
/// ## Semantics every adapter follows
/// - Channels live in the app namespace (`APP_NAME:pubsub:<channel>`); two apps never see
///   each other's signals. Channel names match `[A-Za-z0-9_.:-]+`.
/// - Every message carries the publisher's ``NodeID``. By default a message reaches every
///   subscriber, the publishing node's own included. ``PubSubPublishOptions/skipSelf``
///   keeps it from the publishing node; ``PubSubPublishOptions/onlySelf`` delivers it only
///   there.
/// - A subscription starts at "now": it never sees messages published before it existed.
/// - Each subscription receives each message at most once, in publish order per channel;
///   several subscriptions on one node each get their own copy.
/// - With a debounce window, identical messages (same payload) arriving within the window
///   are collapsed into one delivery at the end of the window ("trailing").
/// - After ``PubSubSubscription/cancel()`` or ``ClusterAdapter/close()`` nothing more is delivered, pending
///   debounced deliveries included.
/// - Durability depends on the adapter (see ``PubSub/capabilities``): the memory adapter
///   delivers to subscriptions live at publish time; a durable adapter (Redis Streams)
///   delivers what was published while a subscriber reconnected.
/// - A publish that the backend cannot accept throws ``PubSubError``; it is never dropped
///   silently.
public protocol PubSub: ClusterAdapter {
    /// The node this adapter publishes as.
    var nodeID: NodeID { get }

    /// Optional guarantees beyond the common semantics.
    var capabilities: PubSubCapabilities { get }

    /// Publishes `payload` on `channel`. Returns once the backend accepted it.
    func publish(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) async throws

    /// Starts receiving messages published on `channel` from now on.
    func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription
}

extension PubSub {
    /// Publishes with default options (delivered to every node, this one included).
    public func publish(_ channel: String, _ payload: [UInt8]) async throws {
        try await publish(channel, payload, options: .init())
    }

    /// Publishes UTF-8 text.
    public func publish(_ channel: String, _ text: String, options: PubSubPublishOptions = .init()) async throws {
        try await publish(channel, Array(text.utf8), options: options)
    }

    /// Subscribes without debouncing.
    public func subscribe(_ channel: String) async throws -> PubSubSubscription {
        try await subscribe(channel, options: .init())
    }
}

/// Optional pub/sub guarantees.
public struct PubSubCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Messages published while a subscriber's connection is broken are delivered after it
    /// reconnects (within the backend's retention), exactly once and in order.
    public static let durable = PubSubCapabilities(rawValue: 1 << 0)
}

/// Who receives a published message.
public struct PubSubPublishOptions: Sendable, Hashable {
    /// Do not deliver to subscriptions of the publishing node.
    public var skipSelf: Bool
    /// Deliver only to subscriptions of the publishing node.
    public var onlySelf: Bool

    public init(skipSelf: Bool = false, onlySelf: Bool = false) {
        self.skipSelf = skipSelf
        self.onlySelf = onlySelf
    }
}

/// How a subscription delivers.
public struct PubSubSubscribeOptions: Sendable, Hashable {
    /// Collapse identical payloads received within this window into one trailing delivery;
    /// `nil` delivers every message.
    public var debounce: Duration?
    /// Messages buffered for a slow consumer of the subscription before the oldest are
    /// dropped (and counted in ``PubSubSubscription/droppedCount``).
    public var bufferSize: Int

    public init(debounce: Duration? = nil, bufferSize: Int = 10_000) {
        self.debounce = debounce
        self.bufferSize = max(1, bufferSize)
    }
}

/// One delivered message.
public struct PubSubMessage: Sendable, Hashable {
    /// The channel it was published on (without the app prefix).
    public var channel: String
    /// The bytes as published.
    public var payload: [UInt8]
    /// The node that published it.
    public var publisherID: NodeID
    /// Whether the receiving node is the publisher.
    public var isFromSelf: Bool

    public init(channel: String, payload: [UInt8], publisherID: NodeID, isFromSelf: Bool) {
        self.channel = channel
        self.payload = payload
        self.publisherID = publisherID
        self.isFromSelf = isFromSelf
    }

    /// The payload as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// Rules for channel names shared by all adapters.
public enum PubSubChannelRules {
    /// Throws ``PubSubError/Code/invalidChannel`` unless `channel` is 1...256 characters of
    /// `[A-Za-z0-9_.:-]`.
    public static func validate(_ channel: String) throws(PubSubError) {
        // Over the contiguous UTF-8 of a native string when there is one (the UTF8View's
        // iterator cost ~40 instructions per byte of every published channel name).
        let allowed = channel.utf8.withContiguousStorageIfAvailable(isAllowed) ?? channel.utf8.allSatisfy(isAllowed)
        guard (1...256).contains(channel.utf8.count), allowed else {
            throw PubSubError(code: .invalidChannel, message: "invalid channel '\(channel)': use 1-256 characters from [A-Za-z0-9_.:-]")
        }
    }

    private static func isAllowed(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where !isAllowed(byte) { return false }
        return true
    }

    /// Whether `byte` may appear in a channel name: `[A-Za-z0-9_.:-]`, tested against a
    /// bit set (runs once per byte of every published channel name; the character-class
    /// comparisons cost ~40 instructions per byte).
    static func isAllowed(_ byte: UInt8) -> Bool {
        byte < 64 ? allowedBelow64 & (1 << UInt64(byte)) != 0
            : byte < 128 && allowedFrom64 & (1 << UInt64(byte &- 64)) != 0
    }

    /// Bytes 0–63 allowed: `-` (45), `.` (46), `0`–`9` (48–57), `:` (58).
    private static let allowedBelow64: UInt64 = (1 << 45) | (1 << 46) | (0x3FF << 48) | (1 << 58)
    /// Bytes 64–127 allowed, minus 64: `A`–`Z` (1–26), `_` (31), `a`–`z` (33–58).
    private static let allowedFrom64: UInt64 = (0x3FFFFFF << 1) | (1 << 31) | (0x3FFFFFF << 33)
}
