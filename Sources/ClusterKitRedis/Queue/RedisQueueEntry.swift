import ClusterKit
import Foundation

/// How a message is stored as stream-entry fields: `id`, `publishedAt` (ms since 1970,
/// server clock; both absent on an entry published without delay, whose message ID is its
/// entry ID and whose publish time is the entry ID's millisecond part), `body` (raw bytes),
/// `headers` (JSON object), `attempt` (of the entry's first delivery), `maxAttempts`,
/// `timeout` (ns), `backoff` (`initial-ns,multiplier,maximum-ns,jitter`); dead letters add
/// `lastError` and `diedAt`.
///
/// A field whose value is the one in ``Omitted`` (no headers, attempt 1, 3 attempts, 15 s,
/// 100 ms doubling to 30 s with jitter 0.5) is left out, and read back as that value (here
/// and in ``RedisQueueScripts``): a job published with the default options is `body`
/// alone, which makes every step that carries it (the `XADD`, the server's stream, the
/// `XREADGROUP` reply and its decoding) several times smaller.
enum RedisQueueEntry {
    /// The fields a publish sends (without `id` and `publishedAt`).
    static func fields(body: [UInt8], options: QueuePublishOptions) -> [any RedisArgument] {
        ([Name.body, body] + tail(options)).map { $0 as any RedisArgument }
    }

    /// The `XADD <stream> * <fields>` of an undelayed publish (`stream`: the key's bytes).
    static func add(to stream: [UInt8], body: [UInt8], options: QueuePublishOptions) -> RedisCommand {
        let tail = tail(options)
        let head = [xadd, stream, star, Name.body, body]
        return RedisCommand(tail.isEmpty ? head : head + tail)
    }

    private static let xadd = Array("XADD".utf8)
    private static let star = Array("*".utf8)

    /// The values a field has when it is absent from an entry: ``QueueWireDefaults``, part
    /// of the storage format (entries in Redis outlive a release), the same for both backends.
    typealias Omitted = QueueWireDefaults

    /// Every field after `body` whose value is not the omitted one (`attempt` is always 1
    /// at publish).
    private static func tail(_ options: QueuePublishOptions) -> [[UInt8]] {
        var fields: [[UInt8]] = []
        if !options.headers.isEmpty, let headers = try? JSONEncoder.sorted.encode(options.headers) {
            fields += [Name.headers, Array(headers)]
        }
        if options.maxAttempts != Omitted.maxAttempts { fields += [Name.maxAttempts, Array(String(options.maxAttempts).utf8)] }
        if options.timeout != Omitted.timeout { fields += [Name.timeout, Array(String(nanoseconds(options.timeout)).utf8)] }
        if options.backoff != Omitted.backoff { fields += [Name.backoff, encode(options.backoff)] }
        return fields
    }

    private static let emptyHeaders = Array("{}".utf8)

    private static func encode(_ backoff: Backoff) -> [UInt8] {
        Array("\(nanoseconds(backoff.initial)),\(backoff.multiplier),\(nanoseconds(backoff.maximum)),\(backoff.jitter)".utf8)
    }

    /// Field names as bytes.
    enum Name {
        static let id = Array("id".utf8)
        static let publishedAt = Array("publishedAt".utf8)
        static let body = Array("body".utf8)
        static let headers = Array("headers".utf8)
        static let attempt = Array("attempt".utf8)
        static let maxAttempts = Array("maxAttempts".utf8)
        static let timeout = Array("timeout".utf8)
        static let backoff = Array("backoff".utf8)
        static let lastError = Array("lastError".utf8)
        static let diedAt = Array("diedAt".utf8)
    }

    /// The fields of an entry that a message (or a dead letter) is made of; others are
    /// ignored. `Bytes` is `[UInt8]` for an entry read from a ``RedisReply``, and
    /// `UnsafeRawBufferPointer` for one read straight from hiredis's arena
    /// (``RedisRawReply``), whose values are then views valid only during that decode call.
    struct Fields<Bytes: RandomAccessCollection<UInt8>> {
        var id: Bytes?
        var publishedAt: Bytes?
        var body: Bytes?
        var headers: Bytes?
        var attempt: Bytes?
        var maxAttempts: Bytes?
        var timeout: Bytes?
        var backoff: Bytes?
        var lastError: Bytes?
        var diedAt: Bytes?

        /// Files `value` under the field called `name` (a name it does not know is ignored).
        /// Compares the length first: a default-options job has the `body` field only.
        mutating func set(_ name: some Collection<UInt8>, _ value: Bytes) {
            switch name.count {
            case 2: if name.elementsEqual(Name.id) { id = value }
            case 4: if name.elementsEqual(Name.body) { body = value }
            case 6: if name.elementsEqual(Name.diedAt) { diedAt = value }
            case 7:
                if name.elementsEqual(Name.headers) { headers = value }
                else if name.elementsEqual(Name.attempt) { attempt = value }
                else if name.elementsEqual(Name.timeout) { timeout = value }
                else if name.elementsEqual(Name.backoff) { backoff = value }
            case 9: if name.elementsEqual(Name.lastError) { lastError = value }
            case 11:
                if name.elementsEqual(Name.publishedAt) { publishedAt = value }
                else if name.elementsEqual(Name.maxAttempts) { maxAttempts = value }
            default: break
            }
        }
    }

    /// The fields of a `[name, value, …]` reply. A pair whose name or value is null is
    /// skipped; a name or value that is neither a string nor null is a protocol error.
    static func fields(_ reply: RedisReply) throws(RedisError) -> Fields<[UInt8]> {
        let elements = try reply.array()
        var fields = Fields<[UInt8]>()
        var index = 0
        while index + 1 < elements.count {
            if let name = try elements[index].bytes(), let value = try elements[index + 1].bytes() {
                fields.set(name, value)
            }
            index += 2
        }
        return fields
    }

    /// The fields of a `[name, value, …]` reply as hiredis parsed it, with the same rules
    /// as ``fields(_:)``; the values point into the reply's arena (nothing is copied).
    static func fields(_ reply: RedisRawReply) throws(RedisError) -> Fields<UnsafeRawBufferPointer> {
        guard reply.kind == .array else { throw reply.unexpected("an array") }
        var fields = Fields<UnsafeRawBufferPointer>()
        var pairs = reply.elements
        while let name = pairs.next(), let value = pairs.next() {
            if let name = try bytes(name), let value = try bytes(value) { fields.set(name, value) }
        }
        return fields
    }

    /// The bytes of a bulk or status reply, `nil` for null; throws for other kinds (as
    /// ``RedisReply/bytes()``). A view into the reply's arena.
    static func bytes(_ reply: RedisRawReply) throws(RedisError) -> UnsafeRawBufferPointer? {
        switch reply.kind {
        case .bulk, .status: return reply.bytes
        case .null: return nil
        default: throw reply.unexpected("a bulk string")
        }
    }

    /// The message of stream entry `entryID` from its `fields` reply, delivered for the
    /// `deliveries`-th time (delivery count of the group's pending list: each takeover adds
    /// one attempt).
    static func message(queue: String, entryID: String, fields reply: RedisReply, deliveries: Int = 1) throws(RedisError) -> (QueueMessage, Fields<[UInt8]>) {
        let fields = try fields(reply)
        return (try message(queue: queue, entryID: entryID, fields: fields, deliveries: deliveries), fields)
    }

    /// The message of stream entry `entryID` made of `fields`, delivered for the
    /// `deliveries`-th time. Of its own it allocates only the body's array for a job
    /// published with the default options (no headers to parse).
    /// `entryMilliseconds`, when given, is the millisecond part of `entryID` (a decoder that
    /// holds the ID's bytes parses it there instead of walking the `String` again).
    static func message<Bytes>(queue: String, entryID: String, entryMilliseconds: Int64? = nil, fields: Fields<Bytes>,
                               deliveries: Int = 1) throws(RedisError) -> QueueMessage {
        func integer(_ value: Bytes?, _ name: String) throws(RedisError) -> Int64 {
            guard let value else {
                throw RedisError(code: .protocolError, message: "queue entry without its '\(name)' field")
            }
            guard let number = decimal(value) else {
                throw RedisError(code: .protocolError, message: "queue entry field '\(name)' is not an integer")
            }
            return number
        }
        let headers = fields.headers.flatMap { (bytes) -> [String: String]? in
            bytes.elementsEqual(emptyHeaders) ? nil : try? JSONDecoder().decode([String: String].self, from: Data(bytes))
        } ?? [:]
        var backoff = Omitted.backoff
        if let bytes = fields.backoff { backoff = decodeBackoff(bytes) }
        let attempt = fields.attempt == nil ? Omitted.attempt : Int(try integer(fields.attempt, "attempt"))
        let maxAttempts = fields.maxAttempts == nil ? Omitted.maxAttempts : Int(try integer(fields.maxAttempts, "maxAttempts"))
        let timeout = fields.timeout == nil ? Omitted.timeout : .nanoseconds(try integer(fields.timeout, "timeout"))
        return QueueMessage(
            id: QueueMessageID(fields.id.map { String(decoding: $0, as: UTF8.self) } ?? entryID), queue: queue,
            body: fields.body.map { Array($0) } ?? [], headers: headers,
            attempt: attempt + max(0, deliveries - 1), maxAttempts: maxAttempts, timeout: timeout, backoff: backoff,
            publishedAtMilliseconds: fields.publishedAt == nil
                ? entryMilliseconds ?? milliseconds(ofEntryID: entryID) : try integer(fields.publishedAt, "publishedAt"))
    }

    /// `initial-ns,multiplier,maximum-ns,jitter`; ``Omitted/backoff`` when malformed.
    private static func decodeBackoff(_ bytes: some Collection<UInt8>) -> Backoff {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ",").map(String.init)
        if parts.count == 4, let initial = Int64(parts[0]), let multiplier = Double(parts[1]), let maximum = Int64(parts[2]),
           let jitter = Double(parts[3]) {
            return Backoff(initial: .nanoseconds(initial), multiplier: multiplier, maximum: .nanoseconds(maximum), jitter: jitter)
        }
        return Omitted.backoff
    }

    /// The millisecond part of a stream entry ID (`<ms>-<seq>`), 0 when malformed. Reads the
    /// UTF-8 bytes: iterating the `String`'s characters cost ~4k instructions per entry.
    static func milliseconds(ofEntryID entryID: String) -> Int64 {
        // Walked as contiguous bytes (a small string's are copied to the stack): iterating
        // `utf8` generically cost ~600 instructions per entry.
        entryID.utf8.withContiguousStorageIfAvailable { milliseconds(ofEntryIDBytes: $0) } ?? milliseconds(ofEntryIDBytes: entryID.utf8)
    }

    /// ``milliseconds(ofEntryID:)`` of an entry ID's UTF-8 bytes.
    static func milliseconds(ofEntryIDBytes bytes: some Collection<UInt8>) -> Int64 {
        var value: Int64 = 0
        for byte in bytes {
            if byte == UInt8(ascii: "-") { break }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return 0 }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return 0 }
            value = sum
        }
        return value
    }

    /// An optionally signed decimal integer, `nil` when it is not one or overflows.
    static func decimal(_ bytes: some Collection<UInt8>) -> Int64? {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in digits {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// `duration` in whole nanoseconds, clamped to what fits in an `Int64`.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds < 9_000_000_000, seconds > -9_000_000_000 else { return seconds > 0 ? .max : .min }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
