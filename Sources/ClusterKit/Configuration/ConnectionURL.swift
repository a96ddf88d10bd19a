/// A connection URL as configured, with where it came from. Its `description` hides the
/// password; the full text is only in ``secretText``, for adapters to connect with.
public struct ConnectionURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL including any password. Never log this; log `description`.
    public let secretText: String
    /// The variable it was read from, or `nil` for a built-in default.
    public let variable: String?

    public init(_ text: String, variable: String? = nil) {
        self.secretText = text
        self.variable = variable
    }

    /// The URL with its password replaced by `***`.
    public var description: String { Redaction.redactedURL(secretText) }

    /// Parses a `redis://` URL.
    public func redis() throws(ConfigurationError) -> RedisURL { try RedisURL(parsing: secretText, variable: variable) }

    /// Parses an `amqp://` URL.
    public func amqp() throws(ConfigurationError) -> AMQPURL { try AMQPURL(parsing: secretText, variable: variable) }
}

/// The parts of an `scheme://[user[:password]@]host[:port][/path][?query]` URL.
struct URLParts {
    var scheme: String
    var user: String?
    var password: String?
    var host: String
    var port: Int?
    var path: String
    var query: [(String, String)]

    init(_ text: String, variable: String?) throws(ConfigurationError) {
        func fail(_ reason: String) -> ConfigurationError { .invalidURL(text, variable: variable, reason: reason) }
        guard let schemeEnd = text.range(of: "://") else { throw fail("expected scheme://host") }
        if text.contains(where: \.isWhitespace) {
            throw fail("it contains whitespace; percent-encode spaces in passwords (%20)")
        }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        var rest = text[schemeEnd.upperBound...]
        // Credentials end at the LAST '@': a password may contain unencoded '/', '?', '#'
        // or '@'. (Redaction uses the same rule, so what is parsed as a password is what
        // is hidden.)
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try URLParts.decode(userInfo[..<colon], fail("bad percent-encoding in the user name"))
                password = try URLParts.decode(userInfo[userInfo.index(after: colon)...], fail("bad percent-encoding in the password"))
            } else {
                user = try URLParts.decode(userInfo, fail("bad percent-encoding in the user name"))
            }
            if user?.isEmpty == true { user = nil }
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var queryText: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        let hostPort: Substring
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            path = String(rest[rest.index(after: slash)...])
        } else {
            hostPort = rest
            path = ""
        }
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw fail("unexpected text after the IPv6 address") }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = String(hostPort)
        }
        if host.isEmpty { throw fail("the host is missing") }
        if host.contains(where: { $0 == " " || $0 == "@" || $0 == "/" }) { throw fail("the host '\(host)' is not valid") }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw fail("the port '\(portText)' is not a number in 1...65535")
            }
            self.port = port
        }
        query = []
        for pair in queryText.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).lowercased()
            let value = parts.count > 1 ? String(parts[1]) : ""
            query.append((key, value))
        }
    }

    static func decode(_ text: Substring, _ error: ConfigurationError) throws(ConfigurationError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard iterator.count >= 2,
                      let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
                else { throw error }
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A duration option: `250` (milliseconds), `250ms`, `2s`.
    static func duration(_ value: String, key: String, url: String, variable: String?) throws(ConfigurationError) -> Duration {
        let text = value.lowercased()
        let (number, scale): (Substring, Double) =
            text.hasSuffix("ms") ? (text.dropLast(2), 1) : text.hasSuffix("s") ? (text.dropLast(1), 1000) : (Substring(text), 1)
        guard let amount = Double(number), amount > 0, amount.isFinite else {
            throw .invalidURL(url, variable: variable, reason: "option \(key)=\(value) is not a positive duration (e.g. 500ms, 2s)")
        }
        return .milliseconds(Int64((amount * scale).rounded(.up)))
    }
}

/// A parsed `redis://[user[:password]@]host[:port][/db][?option=value…]` URL.
///
/// Options: `connect_timeout` and `command_timeout` (`500ms`, `2s`, or milliseconds),
/// `timeout` (sets both), `pool_size` (connections per adapter). Unknown options are errors.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    public var username: String?
    public var password: String?
    public var connectTimeout: Duration?
    public var commandTimeout: Duration?
    public var poolSize: Int?

    public static let defaultText = "redis://localhost:6379/0"

    public init(parsing text: String, variable: String? = nil) throws(ConfigurationError) {
        let parts = try URLParts(text, variable: variable)
        guard parts.scheme == "redis" else {
            throw .invalidURL(text, variable: variable, reason: parts.scheme == "rediss"
                ? "TLS (rediss://) is not supported; use redis:// over a trusted network or a TLS tunnel"
                : "expected a redis:// URL")
        }
        host = parts.host
        port = parts.port ?? 6379
        username = parts.user
        password = parts.password
        let path = parts.path.hasSuffix("/") ? String(parts.path.dropLast()) : parts.path
        if path.isEmpty {
            database = 0
        } else {
            // Decimal digits only (no sign, no spaces) and at most Int32.max: `SELECT` takes a
            // C int. The upper bound is the server's `databases` setting (16 by default, but
            // configurable), so an index it does not have fails at connect with its own error.
            guard path.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let db = Int32(path) else {
                throw .invalidURL(text, variable: variable,
                                  reason: "the database '\(path)' is not a database index (a number from 0 to \(Int32.max))")
            }
            database = Int(db)
        }
        for (key, value) in parts.query {
            switch key {
            case "connect_timeout": connectTimeout = try URLParts.duration(value, key: key, url: text, variable: variable)
            case "command_timeout": commandTimeout = try URLParts.duration(value, key: key, url: text, variable: variable)
            case "timeout":
                let timeout = try URLParts.duration(value, key: key, url: text, variable: variable)
                connectTimeout = timeout
                commandTimeout = timeout
            case "pool_size":
                guard let size = Int(value), (1...64).contains(size) else {
                    throw .invalidURL(text, variable: variable, reason: "option pool_size=\(value) is not a number in 1...64")
                }
                poolSize = size
            default:
                throw .invalidURL(text, variable: variable, reason: "unknown option '\(key)' (known: connect_timeout, command_timeout, timeout, pool_size)")
            }
        }
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        var text = "redis://"
        if username != nil || password != nil {
            text += username ?? ""
            if password != nil { text += ":" + Redaction.placeholder }
            text += "@"
        }
        text += host.contains(":") ? "[\(host)]" : host
        return text + ":\(port)/\(database)"
    }
}

/// A parsed `amqp://user:password@host[:port]/vhost[?option=value…]` URL. The vhost is
/// percent-decoded (`%2f` = `/`); an empty path means `/`.
///
/// Options: `connect_timeout` (`5s`, `500ms`, or milliseconds), `heartbeat` (seconds,
/// 0 disables; default 15), `prefetch` (1...65535). Unknown options are errors.
public struct AMQPURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var username: String
    public var password: String
    public var connectTimeout: Duration?
    public var heartbeatSeconds: Int?
    public var prefetch: Int?

    public static let defaultText = "amqp://guest:guest@localhost:5672/%2f"

    public init(parsing text: String, variable: String? = nil) throws(ConfigurationError) {
        let parts = try URLParts(text, variable: variable)
        guard parts.scheme == "amqp" else {
            throw .invalidURL(text, variable: variable, reason: parts.scheme == "amqps" ? "TLS (amqps://) is not supported" : "expected an amqp:// URL")
        }
        host = parts.host
        port = parts.port ?? 5672
        username = parts.user ?? "guest"
        password = parts.password ?? "guest"
        virtualHost = parts.path.isEmpty
            ? "/"
            : try URLParts.decode(Substring(parts.path), .invalidURL(text, variable: variable, reason: "bad percent-encoding in the vhost"))
        for (key, value) in parts.query {
            switch key {
            case "connect_timeout", "connection_timeout":
                connectTimeout = try URLParts.duration(value, key: key, url: text, variable: variable)
            case "heartbeat":
                guard let seconds = Int(value), (0...3600).contains(seconds) else {
                    throw .invalidURL(text, variable: variable, reason: "option heartbeat=\(value) is not a number of seconds in 0...3600")
                }
                heartbeatSeconds = seconds
            case "prefetch":
                guard let count = Int(value), (1...65535).contains(count) else {
                    throw .invalidURL(text, variable: variable, reason: "option prefetch=\(value) is not a number in 1...65535")
                }
                prefetch = count
            default:
                throw .invalidURL(text, variable: variable, reason: "unknown option '\(key)' (known: connect_timeout, heartbeat, prefetch)")
            }
        }
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let vhost = virtualHost == "/" ? "%2f" : virtualHost
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "amqp://\(username):\(Redaction.placeholder)@\(hostText):\(port)/\(vhost)"
    }
}
