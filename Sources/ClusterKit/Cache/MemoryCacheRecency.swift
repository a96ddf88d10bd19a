/// The recency order of the memory cache's slots: a doubly linked list (newest first)
/// threaded through two small arrays indexed by slot, so marking an entry used and finding
/// the least recently used one are O(1).
///
/// The links live apart from the entries: a move to the front touches the links of three
/// slots, which in this compact array (8 bytes per slot) share cache lines, instead of three
/// full entries.
struct MemoryCacheRecency: Sendable {
    private struct Link: Sendable {
        /// Neighbours; -1 = none.
        var newer: Int32
        var older: Int32
    }

    private var links: [Link] = []
    private(set) var newest = -1
    private(set) var oldest = -1

    init() {}

    /// Makes `slot` (a new slot number, or a free one) the newest.
    mutating func pushNewest(_ slot: Int) {
        precondition(slot < Int(Int32.max), "MemoryCacheRecency: too many slots")
        while links.count <= slot { links.append(Link(newer: -1, older: -1)) }
        links.withUnsafeMutableBufferPointer { Self.link($0, slot, &newest, &oldest) }
    }

    /// Moves a linked slot to the newest end.
    mutating func moveToNewest(_ slot: Int) {
        guard newest != slot else { return }
        links.withUnsafeMutableBufferPointer { links in
            Self.unlink(links, slot, &newest, &oldest)
            Self.link(links, slot, &newest, &oldest)
        }
    }

    /// Takes a linked slot out of the order.
    mutating func remove(_ slot: Int) {
        links.withUnsafeMutableBufferPointer { Self.unlink($0, slot, &newest, &oldest) }
    }

    private static func link(_ links: UnsafeMutableBufferPointer<Link>, _ slot: Int, _ newest: inout Int, _ oldest: inout Int) {
        links[slot] = Link(newer: -1, older: Int32(newest))
        if newest >= 0 { links[newest].newer = Int32(slot) }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private static func unlink(_ links: UnsafeMutableBufferPointer<Link>, _ slot: Int, _ newest: inout Int, _ oldest: inout Int) {
        let (newer, older) = (Int(links[slot].newer), Int(links[slot].older))
        if newer >= 0 { links[newer].older = Int32(older) } else { newest = older }
        if older >= 0 { links[older].newer = Int32(newer) } else { oldest = newer }
        links[slot] = Link(newer: -1, older: -1)
    }
}
