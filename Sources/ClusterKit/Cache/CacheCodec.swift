import Foundation

/// Turns values into bytes for a ``Cache`` and back. ``JSONCacheCodec`` is the default;
/// supply another (MessagePack, Protobuf, …) to ``CacheManager``.
public protocol CacheCodec: Sendable {
    func encode<Value: Encodable>(_ value: Value) throws -> [UInt8]
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value
}

/// JSON via Foundation; top-level scalars (`Int`, `String`, …) are allowed. Dates are
/// encoded as ISO-8601 text with fractional seconds dropped by default; configure the
/// encoder/decoder to change that.
public struct JSONCacheCodec: CacheCodec {
    private let makeEncoder: @Sendable () -> JSONEncoder
    private let makeDecoder: @Sendable () -> JSONDecoder

    public init(
        encoder: @escaping @Sendable () -> JSONEncoder = { JSONEncoder() },
        decoder: @escaping @Sendable () -> JSONDecoder = { JSONDecoder() }
    ) {
        self.makeEncoder = encoder
        self.makeDecoder = decoder
    }

    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        Array(try makeEncoder().encode(value))
    }

    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try makeDecoder().decode(type, from: Data(bytes))
    }
}
