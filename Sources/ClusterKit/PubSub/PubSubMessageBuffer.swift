/// The messages a ``PubSubSubscription`` holds for its reader: a first-in first-out ring of
/// ``PubSubMessage``s, not generic, so that nothing on the delivery path looks up type
/// metadata at run time.
///
/// Capacity grows by doubling as needed and is kept afterwards (the subscription bounds
/// ``count`` by its buffer size, so the capacity is bounded too). A removed message's slot
/// is cleared at once: the buffer does not keep payloads alive after handing them out.
struct PubSubMessageBuffer {
    /// The ring; its count is zero or a power of two. `nil` in every free slot.
    private var slots: [PubSubMessage?] = []
    /// The slot of the oldest message.
    private var head = 0
    /// The number of messages held.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Adds `message` as the newest.
    mutating func append(_ message: PubSubMessage) {
        if count == slots.count { grow() }
        slots[(head &+ count) & (slots.count &- 1)] = message
        count &+= 1
    }

    /// Removes and returns the oldest message, `nil` when empty.
    mutating func popFirst() -> PubSubMessage? {
        guard count > 0 else { return nil }
        let message = slots[head].take()
        head = (head &+ 1) & (slots.count &- 1)
        count &-= 1
        return message
    }

    /// Removes the oldest message (for the drop-oldest policy); does nothing when empty.
    mutating func removeFirst() {
        _ = popFirst()
    }

    /// Removes every message.
    mutating func removeAll() {
        while popFirst() != nil {}
    }

    private mutating func grow() {
        let capacity = Swift.max(16, slots.count * 2)
        var grown = [PubSubMessage?](repeating: nil, count: capacity)
        for index in 0..<count {
            grown[index] = slots[(head &+ index) & (slots.count &- 1)].take()
        }
        slots = grown
        head = 0
    }
}
