import ClusterKit

/// How a ``RedisClient`` connects: everything from a parsed ``RedisURL`` plus defaults.
///
/// | URL option | meaning | default |
/// |---|---|---|
/// | `connect_timeout` | time allowed to open a TCP connection (and AUTH/SELECT) | 2 s |
/// | `command_timeout` | time allowed for the server's reply to a batch of commands | 5 s |
/// | `timeout` | sets both | |
/// | `pool_size` | connections per client (each on its own thread) | 2 |
public struct RedisClientConfiguration: Sendable, Hashable, CustomStringConvertible {
    public static let defaultConnectTimeout: Duration = .seconds(2)
    public static let defaultCommandTimeout: Duration = .seconds(5)
    public static let defaultPoolSize = 2

    public var url: RedisURL
    public var connectTimeout: Duration
    public var commandTimeout: Duration
    public var poolSize: Int
    /// Delays between reconnection attempts after a connection broke or could not be made:
    /// 50 ms doubling up to 2 s. While waiting, commands fail at once with
    /// ``RedisError/Code/connectionLost`` instead of piling up.
    public var reconnectBackoff: Backoff
    /// How long a connection's thread, having answered every queued command, stays awake
    /// polling for the next one (yielding its core between polls) before it sleeps; see
    /// "Spinning before parking" in ``DedicatedThreadExecutor``. A sequential caller on
    /// the cooperative pool sends its next command within a few tens of microseconds of
    /// its reply, and ``RedisClient`` sends it to the connection still awake: no wake-up
    /// of the connection's thread per command. Costs at most this much CPU each time a
    /// connection runs out of work; zero turns it off. Default 50 µs.
    public var idleSpin: Duration = Self.defaultIdleSpin
    public static let defaultIdleSpin: Duration = .microseconds(50)

    public init(url: RedisURL, reconnectBackoff: Backoff = Backoff(initial: .milliseconds(50), multiplier: 2, maximum: .seconds(2), jitter: 0.3)) {
        self.url = url
        self.connectTimeout = url.connectTimeout ?? Self.defaultConnectTimeout
        self.commandTimeout = url.commandTimeout ?? Self.defaultCommandTimeout
        self.poolSize = url.poolSize ?? Self.defaultPoolSize
        self.reconnectBackoff = reconnectBackoff
    }

    /// Parses `text` (a `redis://` URL); the error quotes it with the password redacted.
    public init(parsing text: String) throws(ConfigurationError) {
        self.init(url: try RedisURL(parsing: text))
    }

    /// The redacted URL.
    public var description: String { url.description }
}
