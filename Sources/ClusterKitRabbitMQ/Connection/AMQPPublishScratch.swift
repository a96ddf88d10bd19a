import CRabbitMQ
import Glibc

/// The C memory of a publish's header table (entries, and the bytes of keys and text
/// values), reused by every publish of one connection: rabbitmq-c copies the table into
/// the frame during `amqp_basic_publish`, so once this has grown to the largest table
/// seen, building a table allocates nothing. Never shared: it belongs to one
/// ``AMQPConnection`` and is used on its thread only.
final class AMQPPublishScratch {
    private var entries: UnsafeMutablePointer<amqp_table_entry_t>?
    private var entryCapacity = 0
    private var bytes: UnsafeMutableRawPointer?
    private var byteCapacity = 0

    deinit {
        entries?.deallocate()
        free(bytes)
    }

    /// `fields` as a table valid until the next call.
    func table(_ fields: [(String, AMQPFieldValue)]) -> amqp_table_t {
        guard !fields.isEmpty else { return amqp_empty_table }
        var needed = 0
        for (key, value) in fields {
            needed += key.utf8.count
            if case .string(let text) = value { needed += text.utf8.count }
        }
        if fields.count > entryCapacity {
            entries?.deallocate()
            entryCapacity = max(fields.count, 2 * entryCapacity, 8)
            entries = .allocate(capacity: entryCapacity)
        }
        if needed > byteCapacity {
            free(bytes)
            byteCapacity = max(needed, 2 * byteCapacity, 256)
            bytes = malloc(byteCapacity)
        }
        guard let entries, let bytes else { return amqp_empty_table }
        var offset = 0
        for (index, (key, value)) in fields.enumerated() {
            var entry = amqp_table_entry_t()
            entry.key = Self.copy(key, to: bytes, at: &offset)
            switch value {
            case .string(let text):
                entry.value.kind = UInt8(truncatingIfNeeded: AMQP_FIELD_KIND_UTF8.rawValue)
                entry.value.value.bytes = Self.copy(text, to: bytes, at: &offset)
            case .int(let number):
                entry.value.kind = UInt8(truncatingIfNeeded: AMQP_FIELD_KIND_I64.rawValue)
                entry.value.value.i64 = number
            }
            (entries + index).initialize(to: entry)
        }
        return amqp_table_t(num_entries: Int32(fields.count), entries: entries)
    }

    private static func copy(_ text: String, to bytes: UnsafeMutableRawPointer, at offset: inout Int) -> amqp_bytes_t {
        var text = text
        return text.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, utf8.count > 0 else { return amqp_bytes_t(len: 0, bytes: nil) }
            let start = bytes + offset
            start.copyMemory(from: base, byteCount: utf8.count)
            offset += utf8.count
            return amqp_bytes_t(len: utf8.count, bytes: start)
        }
    }
}
