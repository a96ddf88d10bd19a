/// The record the example reads and writes: a named item, stamped with the instance that
/// last wrote it.
struct Item: Codable, Sendable, Equatable {
    var id: String
    var name: String
    /// The node ID of the instance that wrote this version.
    var updatedBy: String
    /// When it was written, in milliseconds since 1970.
    var updatedAtMilliseconds: Int64

    /// Item IDs are 1-64 characters from `[A-Za-z0-9_-]`, so they are valid cache keys and
    /// pub/sub payloads as they are.
    static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
