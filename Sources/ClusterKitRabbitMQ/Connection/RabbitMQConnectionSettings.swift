import ClusterKit

/// How the adapter's connections are made and kept.
public struct RabbitMQConnectionSettings: Sendable {
    /// Where to connect (its `description` hides the password).
    public var url: AMQPURL
    /// Bounds the TCP connect and the AMQP handshake (URL option `connect_timeout`, default 5 s).
    public var connectTimeout: Duration
    /// Heartbeat interval in seconds (URL option `heartbeat`, default 15; 0 = off). A peer
    /// silent for twice this is treated as gone and the connection is rebuilt.
    public var heartbeatSeconds: Int
    /// Bounds every synchronous broker call (declare, get, purge).
    public var rpcTimeout: Duration
    /// How long a publish may wait for its confirm, reconnects included, before it fails
    /// with ``RabbitMQError/Code/timedOut``.
    public var publishTimeout: Duration

    public init(url: AMQPURL, publishTimeout: Duration = .seconds(30)) {
        self.url = url
        connectTimeout = url.connectTimeout ?? .seconds(5)
        heartbeatSeconds = url.heartbeatSeconds ?? 15
        rpcTimeout = max(connectTimeout, .seconds(10))
        self.publishTimeout = publishTimeout
    }

    func connect() throws(RabbitMQError) -> AMQPConnection {
        try AMQPConnection(url: url, connectTimeout: connectTimeout, heartbeat: heartbeatSeconds, rpcTimeout: rpcTimeout)
    }
}
