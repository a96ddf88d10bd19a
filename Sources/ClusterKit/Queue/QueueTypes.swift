/// The identifier a queue adapter gives a message; unique within a queue.
public struct QueueMessageID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// How a message is published.
public struct QueuePublishOptions: Sendable, Hashable {
    /// Invisible to consumers until this much time has passed; `nil`, zero or negative
    /// means now.
    public var delay: Duration?
    /// Attempts before the message is dead-lettered (1 = no retry). At least 1.
    public var maxAttempts: Int
    /// Longest a handler may run for one attempt before it is cancelled and the attempt
    /// fails.
    public var timeout: Duration
    /// Delay between failed attempts.
    public var backoff: Backoff
    /// Application metadata, delivered unchanged.
    public var headers: [String: String]

    public init(
        delay: Duration? = nil,
        maxAttempts: Int = 3,
        timeout: Duration = .seconds(15),
        backoff: Backoff = .standard,
        headers: [String: String] = [:]
    ) {
        self.delay = delay
        self.maxAttempts = max(1, maxAttempts)
        self.timeout = timeout
        self.backoff = backoff
        self.headers = headers
    }
}

/// A message as a handler sees it.
public struct QueueMessage: Sendable, Hashable {
    public var id: QueueMessageID
    /// The queue name (without the app prefix).
    public var queue: String
    public var body: [UInt8]
    public var headers: [String: String]
    /// 1 for the first delivery, 2 for the first retry, …
    public var attempt: Int
    public var maxAttempts: Int
    /// The enforced handler timeout for this message.
    public var timeout: Duration
    /// The retry policy the message was published with.
    public var backoff: Backoff
    /// When it was first published, in milliseconds since 1970.
    public var publishedAtMilliseconds: Int64

    public init(id: QueueMessageID, queue: String, body: [UInt8], headers: [String: String], attempt: Int, maxAttempts: Int,
                timeout: Duration, backoff: Backoff, publishedAtMilliseconds: Int64) {
        self.id = id
        self.queue = queue
        self.body = body
        self.headers = headers
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.timeout = timeout
        self.backoff = backoff
        self.publishedAtMilliseconds = publishedAtMilliseconds
    }

    /// The body as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A message pulled with ``MessageQueue/receive(_:wait:visibilityTimeout:)``, to be
/// acknowledged or rejected.
public struct QueueDelivery: Sendable, Hashable {
    public var message: QueueMessage
    /// Adapter-specific proof of ownership (stream entry, delivery tag, lease token).
    public var receipt: String

    public init(message: QueueMessage, receipt: String) {
        self.message = message
        self.receipt = receipt
    }
}

/// How a consumer pulls and runs handlers.
public struct QueueConsumerOptions: Sendable {
    /// Handlers running at once on this consumer. At least 1.
    public var concurrency: Int
    /// Asked before every pull: `false` pauses pulling (nothing is taken, nothing lost)
    /// until it says `true` again. NocoBase's `idle()`: lets a node serve some queues only.
    public var gate: (@Sendable () -> Bool)?
    /// How long a message may stay unacknowledged before another consumer may take it,
    /// when this consumer stops extending its claim (it died).
    public var visibilityTimeout: Duration
    /// How often a gated consumer asks its gate again; with a gate set, also the longest a
    /// single pull waits, so a closing gate takes effect within this interval.
    public var gateInterval: Duration

    public init(
        concurrency: Int = 1,
        gate: (@Sendable () -> Bool)? = nil,
        visibilityTimeout: Duration = .seconds(30),
        gateInterval: Duration = .milliseconds(100)
    ) {
        self.concurrency = max(1, concurrency)
        self.gate = gate
        self.visibilityTimeout = visibilityTimeout
        self.gateInterval = gateInterval
    }
}

/// How many messages of a queue are in each state.
public struct QueueCounts: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Visible, waiting for a consumer.
    public var waiting: Int
    /// Not yet due (published with a delay, or waiting for a retry).
    public var delayed: Int
    /// Handed to a consumer, not yet acknowledged.
    public var inFlight: Int
    /// In the dead-letter store.
    public var dead: Int

    public init(waiting: Int = 0, delayed: Int = 0, inFlight: Int = 0, dead: Int = 0) {
        self.waiting = waiting
        self.delayed = delayed
        self.inFlight = inFlight
        self.dead = dead
    }

    public var description: String { "waiting \(waiting), delayed \(delayed), in-flight \(inFlight), dead \(dead)" }
}

/// A message in the dead-letter store.
public struct QueueDeadLetter: Sendable, Hashable {
    public var message: QueueMessage
    /// The error text of the last failed attempt.
    public var lastError: String
    /// When it was dead-lettered, in milliseconds since 1970.
    public var diedAtMilliseconds: Int64

    public init(message: QueueMessage, lastError: String, diedAtMilliseconds: Int64) {
        self.message = message
        self.lastError = lastError
        self.diedAtMilliseconds = diedAtMilliseconds
    }
}
