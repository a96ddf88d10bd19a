/// The bytes a ``RedisConnection`` writes in one batch: its commands' RESP encodings back
/// to back, in one buffer kept from batch to batch. Each command is written in place
/// through a pointer (``RedisCommand/encode(to:)``) after one capacity check, instead of
/// byte by byte into an array.
///
/// A buffer grown past 1 MiB (a batch with a large value) is given back when it is
/// emptied, so a connection does not keep the largest batch it ever wrote. Used by its
/// connection only (actor-isolated); not `Sendable`.
package final class RedisWriteBuffer {
    private static let initialCapacity = 4096
    private static let keptCapacity = 1 << 20

    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// The number of bytes written since the last ``removeAll()``.
    package private(set) var count = 0

    package init() {
        capacity = Self.initialCapacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    /// Empties the buffer (and gives back memory beyond 1 MiB).
    package func removeAll() {
        count = 0
        if capacity > Self.keptCapacity {
            base.deallocate()
            capacity = Self.initialCapacity
            base = .allocate(capacity: capacity)
        }
    }

    /// Appends `command`'s RESP encoding.
    package func append(_ command: RedisCommand) {
        let needed = count + command.encodedCount
        if needed > capacity { grow(to: needed) }
        count = command.encode(to: base + count) - base
    }

    /// The bytes written, valid until the next change of the buffer.
    package var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    private func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.initialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}
