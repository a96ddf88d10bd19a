/// A published message as it travels between nodes: the payload plus who published it and
/// who may receive it.
///
/// Every adapter carries these fields (the memory bus passes the value, a Redis adapter
/// stores them as stream entry fields) and hands received envelopes to
/// ``PubSubLocalDispatcher/dispatch(_:)``, which applies the routing rules.
public struct PubSubEnvelope: Sendable, Hashable {
    /// The channel, without the app prefix.
    public var channel: String
    /// The bytes as published.
    public var payload: [UInt8]
    /// The publishing node.
    public var publisherID: NodeID
    /// Not for the publishing node's subscriptions.
    public var skipSelf: Bool
    /// Only for the publishing node's subscriptions.
    public var onlySelf: Bool

    public init(channel: String, payload: [UInt8], publisherID: NodeID, skipSelf: Bool = false, onlySelf: Bool = false) {
        self.channel = channel
        self.payload = payload
        self.publisherID = publisherID
        self.skipSelf = skipSelf
        self.onlySelf = onlySelf
    }

    /// Validates `channel` and `options` the way every adapter must before publishing:
    /// throws ``PubSubError/Code/invalidChannel`` for a bad channel name and
    /// ``PubSubError/conflictingOptions`` when `skipSelf` and `onlySelf` are both set.
    public init(validating channel: String, payload: [UInt8], publisherID: NodeID, options: PubSubPublishOptions) throws(PubSubError) {
        try PubSubChannelRules.validate(channel)
        if options.skipSelf && options.onlySelf { throw PubSubError.conflictingOptions }
        self.init(channel: channel, payload: payload, publisherID: publisherID, skipSelf: options.skipSelf, onlySelf: options.onlySelf)
    }

    /// Whether a node with ID `receiver` may receive this envelope (`skipSelf`/`onlySelf`).
    public func isDeliverable(to receiver: NodeID) -> Bool {
        isDeliverable(isFromSelf: receiver == publisherID)
    }

    /// The message as a subscription of node `receiver` sees it.
    public func message(for receiver: NodeID) -> PubSubMessage {
        message(isFromSelf: receiver == publisherID)
    }

    /// ``isDeliverable(to:)`` for a receiver already known to be (or not be) the publisher.
    func isDeliverable(isFromSelf: Bool) -> Bool {
        if skipSelf && isFromSelf { return false }
        if onlySelf && !isFromSelf { return false }
        return true
    }

    /// ``message(for:)`` for a receiver already known to be (or not be) the publisher.
    func message(isFromSelf: Bool) -> PubSubMessage {
        PubSubMessage(channel: channel, payload: payload, publisherID: publisherID, isFromSelf: isFromSelf)
    }
}
