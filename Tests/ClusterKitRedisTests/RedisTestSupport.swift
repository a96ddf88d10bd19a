import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Logging

/// A client on `url` (the shared server's database 0 by default).
func makeClient(_ url: String? = nil) async throws -> RedisClient {
    let text: String
    if let url { text = url } else { text = try await RedisServer.shared().url() }
    return try await RedisClient.connect(try RedisClientConfiguration(parsing: text))
}

/// A fresh key prefix so tests sharing the server never see each other's keys.
func uniquePrefix(_ name: String) -> String {
    "test-\(name)-\(String(UInt64.random(in: 0 ... .max), radix: 36)):"
}

/// The codes a broken or unreachable server may produce.
let connectionFaultCodes: Set<RedisError.Code> = [.connectionLost, .connectionFailed, .timeout]

/// Retries `body` every 50 ms until it succeeds, up to `timeout`; rethrows the last error.
func eventuallySucceeds<T>(within timeout: Duration = .seconds(10), _ body: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        do {
            return try await body()
        } catch {
            if ContinuousClock.now > deadline { throw error }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passed; whether it held (a
/// last look after the deadline included).
func waitUntil(_ timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
