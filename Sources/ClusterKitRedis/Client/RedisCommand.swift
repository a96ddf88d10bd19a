/// One Redis command: binary-safe arguments, the first being the command name.
///
/// Arguments are raw bytes; nothing is interpreted or escaped, so keys and values may hold
/// any byte. The command is encoded as a RESP array of bulk strings, exactly what hiredis's
/// `redisFormatCommandArgv` produces.
public struct RedisCommand: Sendable, Hashable, CustomStringConvertible {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        self.arguments = arguments
    }

    /// `RedisCommand("SET", key, value)`: each argument is text, bytes, or an integer.
    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init([Array(name.utf8)] + arguments.map(\.redisBytes))
    }

    /// A command with a name and an argument list built elsewhere.
    public init(_ name: String, arguments: [any RedisArgument]) {
        self.init([Array(name.utf8)] + arguments.map(\.redisBytes))
    }

    /// The command name only (arguments may be secrets or large values).
    public var description: String { String(decoding: arguments[0], as: UTF8.self) }

    /// Appends the RESP encoding (`*N\r\n$len\r\narg\r\n…`) to `buffer` (see
    /// ``encode(to:)``; connections encode into a ``RedisWriteBuffer``).
    package func encode(into buffer: inout [UInt8]) {
        let size = encodedCount
        buffer.reserveCapacity(buffer.count + size)
        let encoded = [UInt8](unsafeUninitializedCapacity: size) { bytes, count in
            count = encode(to: bytes.baseAddress!) - bytes.baseAddress!
        }
        buffer.append(contentsOf: encoded)
    }

    /// The number of bytes of the RESP encoding.
    package var encodedCount: Int {
        var count = 3 + Self.digitCount(arguments.count)
        for argument in arguments { count += 5 + Self.digitCount(argument.count) + argument.count }
        return count
    }

    /// Writes the RESP encoding at `start`, which has room for ``encodedCount`` bytes;
    /// returns the address after the last byte written. Computing the size first and
    /// writing through a pointer costs about a third of appending to an array byte by byte
    /// (each append checks capacity and uniqueness: ~2.5k instructions for the pub/sub
    /// `XADD` under callgrind).
    package func encode(to start: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var position = start
        position.pointee = UInt8(ascii: "*")
        position = Self.writeDecimal(arguments.count, at: position + 1)
        position = Self.writeLineEnd(at: position)
        for argument in arguments {
            position.pointee = UInt8(ascii: "$")
            position = Self.writeDecimal(argument.count, at: position + 1)
            position = Self.writeLineEnd(at: position)
            argument.withUnsafeBufferPointer { bytes in
                if let base = bytes.baseAddress { position.update(from: base, count: bytes.count) }
            }
            position = Self.writeLineEnd(at: position + argument.count)
        }
        return position
    }

    private static func writeLineEnd(at position: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        position[0] = 13
        position[1] = 10
        return position + 2
    }

    /// The number of decimal digits of `value` (never negative).
    static func digitCount(_ value: Int) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// Writes the decimal digits of `value` (never negative) at `position`; returns the
    /// address after them.
    private static func writeDecimal(_ value: Int, at position: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        precondition(value >= 0, "RESP counts and lengths are never negative")
        if value < 10 {
            position.pointee = UInt8(truncatingIfNeeded: value) &+ 48
            return position + 1
        }
        let end = position + digitCount(value)
        var cursor = end
        var rest = UInt(value)
        repeat {
            let (quotient, digit) = rest.quotientAndRemainder(dividingBy: 10)
            cursor -= 1
            cursor.pointee = UInt8(truncatingIfNeeded: digit) &+ 48
            rest = quotient
        } while rest != 0
        return end
    }

    /// Appends the decimal digits of `value` (a count: never negative) to `buffer`, as the
    /// encoding writes them.
    package static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        buffer += [UInt8](unsafeUninitializedCapacity: digitCount(value)) { digits, count in
            count = writeDecimal(value, at: digits.baseAddress!) - digits.baseAddress!
        }
    }
}

/// A value usable as a command argument.
public protocol RedisArgument: Sendable {
    var redisBytes: [UInt8] { get }
}

extension String: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    public var redisBytes: [UInt8] { self }
}

extension Int: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension UInt64: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}
