/// A first-in first-out buffer with O(1) `append`, `popFirst` and (usually) `prepend`.
struct QueueFIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    /// The elements from first to last.
    var elements: some Sequence<Element> { storage[head...].lazy.compactMap { $0 } }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    /// Puts `element` before every other one.
    mutating func prepend(_ element: Element) {
        if head > 0 {
            head -= 1
            storage[head] = element
        } else {
            storage.insert(element, at: 0)
        }
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        defer {
            storage[head] = nil
            head += 1
            compactIfWorthIt()
        }
        return storage[head]
    }

    /// Removes and returns the first element matching `predicate`.
    mutating func removeFirst(where predicate: (Element) -> Bool) -> Element? {
        guard let index = storage[head...].firstIndex(where: { $0.map(predicate) ?? false }) else { return nil }
        return storage.remove(at: index)
    }

    /// Removes everything; returns how many elements there were.
    mutating func removeAll() -> Int {
        defer {
            storage.removeAll()
            head = 0
        }
        return count
    }

    private mutating func compactIfWorthIt() {
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }
}

extension QueueFIFO: Sendable where Element: Sendable {}
