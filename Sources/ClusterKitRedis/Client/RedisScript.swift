/// A Lua script run with `EVALSHA` by its SHA-1, falling back to `EVAL` (which also loads
/// it into the server's script cache) when the server answers `NOSCRIPT` — after a
/// restart or `SCRIPT FLUSH`. Scripts run atomically on the server.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// The script's SHA-1 in hex, as Redis names it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hex(Array(source.utf8))
    }
}
