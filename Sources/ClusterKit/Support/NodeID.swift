#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Identifies one node of a cluster: one process in production, or one in-process "node"
/// in tests and the in-process demo.
///
/// Pub/sub envelopes carry the publisher's node ID (that is how `skipSelf`/`onlySelf` work),
/// and queue adapters use it as their consumer name, so it must be unique among the live
/// nodes of an app. ``NodeID/generate()`` combines host name, process ID and a random
/// suffix; set `CLUSTERKIT_NODE_ID` to pin it (for example to a pod name) so that a restarted
/// process resumes its own pending queue entries.
public struct NodeID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The identifier as text; never empty.
    public let rawValue: String

    /// Wraps an existing identifier. An empty string is replaced by a generated one.
    public init(_ rawValue: String) {
        self.rawValue = rawValue.isEmpty ? NodeID.generate().rawValue : rawValue
    }

    public var description: String { rawValue }

    /// A new identifier, unique with overwhelming probability: `host-pid-random`.
    public static func generate() -> NodeID {
        var buffer = [CChar](repeating: 0, count: 256)
        let host: String
        if gethostname(&buffer, buffer.count - 1) == 0 {
            host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            host = "host"
        }
        let suffix = String(UInt32.random(in: 0 ... .max), radix: 36)
        return NodeID(raw: "\(host.isEmpty ? "host" : host)-\(getpid())-\(suffix)")
    }

    private init(raw: String) { self.rawValue = raw }
}
