/// A binary min-heap of expiry deadlines, used by the memory cache to drop expired entries
/// in order without scanning the whole store.
///
/// Items are never removed from the middle: when an entry's deadline changes or the entry
/// goes away, its old item stays in the heap and is recognised as stale by its `token`
/// (the owner compares it with the entry's current token when the item surfaces).
///
/// Deadlines are durations since the table's origin instant (see ``MemoryCacheTable``), so
/// the heap is not generic over the clock.
struct MemoryCacheExpiryHeap: Sendable {
    struct Item: Sendable {
        let deadline: Duration
        let slot: Int
        let token: UInt64
    }

    private(set) var items: [Item] = []

    var count: Int { items.count }

    /// The item with the earliest deadline.
    var first: Item? { items.first }

    mutating func insert(_ item: Item) {
        items.append(item)
        siftUp(items.count - 1)
    }

    /// Removes and returns the item with the earliest deadline.
    @discardableResult
    mutating func removeFirst() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let first = items.removeLast()
        if !items.isEmpty { siftDown(0) }
        return first
    }

    /// Replaces the contents with `items` (used to drop stale items in one go).
    mutating func rebuild(_ newItems: [Item]) {
        items = newItems
        guard items.count > 1 else { return }
        for index in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { return }
            items.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { return }
            let right = left + 1
            var smallest = left
            if right < items.count, items[right].deadline < items[left].deadline { smallest = right }
            guard items[smallest].deadline < items[parent].deadline else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
