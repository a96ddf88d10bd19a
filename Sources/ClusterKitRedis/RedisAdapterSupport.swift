import ClusterKit
import Logging

extension RedisClient {
    /// Connects the client a registry-built adapter uses: the context's URL (or the default
    /// `redis://localhost:6379/0`), its logger. Each adapter instance (node) gets its own
    /// client, so its own connections.
    static func connect(for context: AdapterContext) async throws -> RedisClient {
        let url = try (context.url ?? ConnectionURL(RedisURL.defaultText)).redis()
        return try await RedisClient.connect(RedisClientConfiguration(url: url), logger: context.logger)
    }
}

/// A random owner token (128 bits, base 36) identifying one lease holder.
func randomToken(_ nodeID: NodeID) -> String {
    "\(nodeID.rawValue)/" + String(UInt64.random(in: 0 ... .max), radix: 36) + String(UInt64.random(in: 0 ... .max), radix: 36)
}

/// `ttl` as whole milliseconds (rounded up, so a positive TTL never becomes 0).
func milliseconds(_ ttl: Duration) -> Int64 { ttl.wholeMillisecondsRoundedUp }
