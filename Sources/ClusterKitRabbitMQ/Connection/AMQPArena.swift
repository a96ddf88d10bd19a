import CRabbitMQ
import Glibc

/// Owns the C memory of the byte strings and tables handed to one rabbitmq-c call, and
/// frees it when released. Never shared: it lives for one call on one connection's thread.
/// (Publishing, the hot path, uses ``AMQPPublishScratch`` instead.)
final class AMQPArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for pointer in allocations { free(pointer) }
    }

    func bytes(_ text: String) -> amqp_bytes_t { bytes(Array(text.utf8)) }

    func bytes(_ value: [UInt8]) -> amqp_bytes_t {
        guard !value.isEmpty, let pointer = malloc(value.count) else { return amqp_bytes_t(len: 0, bytes: nil) }
        allocations.append(pointer)
        value.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: value.count) }
        return amqp_bytes_t(len: value.count, bytes: pointer)
    }

    func table(_ fields: [(String, AMQPFieldValue)]) -> amqp_table_t {
        guard !fields.isEmpty else { return amqp_empty_table }
        let entries = UnsafeMutablePointer<amqp_table_entry_t>.allocate(capacity: fields.count)
        allocations.append(UnsafeMutableRawPointer(entries))
        for (index, (key, value)) in fields.enumerated() {
            var entry = amqp_table_entry_t()
            entry.key = bytes(key)
            switch value {
            case .string(let text):
                entry.value.kind = UInt8(truncatingIfNeeded: AMQP_FIELD_KIND_UTF8.rawValue)
                entry.value.value.bytes = bytes(text)
            case .int(let number):
                entry.value.kind = UInt8(truncatingIfNeeded: AMQP_FIELD_KIND_I64.rawValue)
                entry.value.value.i64 = number
            }
            (entries + index).initialize(to: entry)
        }
        return amqp_table_t(num_entries: Int32(fields.count), entries: entries)
    }
}

/// A value in an AMQP field table, as this package writes them.
enum AMQPFieldValue: Sendable, Hashable {
    case string(String)
    case int(Int64)

    /// The value as a number: an integer, or text holding one in decimal.
    var integer: Int64? {
        switch self {
        case .int(let number): number
        case .string(let text): Int64(text)
        }
    }

    /// The value as text (an integer in decimal).
    var text: String {
        switch self {
        case .int(let number): String(number)
        case .string(let text): text
        }
    }
}

extension amqp_bytes_t {
    /// The bytes as a Swift array (empty for a null pointer).
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }

    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }
}

extension amqp_table_t {
    /// The entries with a value this package reads: text (UTF-8 or bytes) and integers of
    /// any width (as ``AMQPFieldValue/int(_:)``; an unsigned 64-bit one above `Int64.max`
    /// as text), booleans as `true`/`false`. Other kinds are skipped.
    var fields: [String: AMQPFieldValue] {
        var result: [String: AMQPFieldValue] = [:]
        guard num_entries > 0, let entries else { return result }
        result.reserveCapacity(Int(num_entries))
        for index in 0..<Int(num_entries) {
            let entry = entries[index]
            let key = entry.key.string
            let value = entry.value.value
            switch UInt32(entry.value.kind) {
            case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: result[key] = .string(value.bytes.string)
            case AMQP_FIELD_KIND_I64.rawValue: result[key] = .int(value.i64)
            case AMQP_FIELD_KIND_U64.rawValue: result[key] = value.u64 <= UInt64(Int64.max) ? .int(Int64(value.u64)) : .string(String(value.u64))
            case AMQP_FIELD_KIND_I32.rawValue: result[key] = .int(Int64(value.i32))
            case AMQP_FIELD_KIND_U32.rawValue: result[key] = .int(Int64(value.u32))
            case AMQP_FIELD_KIND_I16.rawValue: result[key] = .int(Int64(value.i16))
            case AMQP_FIELD_KIND_U16.rawValue: result[key] = .int(Int64(value.u16))
            case AMQP_FIELD_KIND_I8.rawValue: result[key] = .int(Int64(value.i8))
            case AMQP_FIELD_KIND_U8.rawValue: result[key] = .int(Int64(value.u8))
            case AMQP_FIELD_KIND_BOOLEAN.rawValue: result[key] = .string(value.boolean != 0 ? "true" : "false")
            default: continue
            }
        }
        return result
    }
}
