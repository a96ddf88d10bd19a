import ClusterKit

/// The broker objects behind one queue name of one app. All are durable; names use `:`,
/// which queue names may not contain, so they never collide with another queue's.
///
/// - `APP:queue:<name>`: the work queue (classic, durable), fed through the default exchange.
/// - `APP:queue:<name>:dead`: dead letters, in the order they died.
/// - `APP:queue:<name>:inflight` and `…:inflight:1e1` … `…:inflight:1e4`: never hold
///   messages; a consumer registered on `…:inflight:1eK` stands for 10ᴷ held messages
///   (`…:inflight` for one). Markers are registered on the holding connection, so a crash
///   removes them, and every node reads the cluster-wide in-flight count as
///   Σ 10ᴷ × (consumers on `…:inflight:1eK`). A pulled message registers one unit marker;
///   a push consumer keeps the decimal digits of its held count (at most 9 markers per
///   weight, the top weight up to 6 for a prefetch of 65 535), adjusted once per round
///   rather than two frames per message.
/// - the delay chain `…:delay:x<n>` / `…:delay:q<n>` for n = 28…0: a message delayed by
///   `d` (in 4 ms units) enters exchange x28 with a routing key of the 29 bits of `d`; at
///   level n a set bit routes it into queue q<n>, whose TTL is 2ⁿ units and which
///   dead-letters into x<n-1> (q0 into the work queue); a clear bit skips to x<n-1>. Every
///   queue of the chain has one TTL, so it stays FIFO, and messages fall due in order
///   whatever delays were mixed. No plugin is needed. Longest delay: 2²⁹−1 units ≈ 24.8 days.
struct RabbitMQQueueTopology: Sendable, Hashable {
    static let delayUnitMilliseconds: Int64 = 4
    static let delayLevels = 29

    let name: String
    let main: String

    init(appName: String, queue: String) {
        name = queue
        main = "\(appName):queue:\(queue)"
    }

    var dead: String { main + ":dead" }
    var inflight: String { main + ":inflight" }
    /// The number of in-flight marker weights: 10⁰ … 10⁴.
    static let inflightWeights = 5
    /// The in-flight marker queue whose consumers each stand for 10^`exponent` messages.
    func inflight(exponent: Int) -> String { exponent == 0 ? inflight : inflight + ":1e\(exponent)" }
    func delayExchange(_ level: Int) -> String { main + ":delay:x\(level)" }
    func delayQueue(_ level: Int) -> String { main + ":delay:q\(level)" }
    var delayEntry: String { delayExchange(Self.delayLevels - 1) }

    /// The routing key that sends a message through the chain for `delay`, or `nil` when
    /// it is due now.
    static func delayRoutingKey(_ delay: Duration) -> String? {
        guard delay > .zero else { return nil }
        let milliseconds = delay.wholeMillisecondsRoundedUp
        let maxUnits = (Int64(1) << delayLevels) - 1
        let units = min(maxUnits, (milliseconds + delayUnitMilliseconds - 1) / delayUnitMilliseconds)
        guard units > 0 else { return nil }
        return (0..<delayLevels).reversed().map { (units >> Int64($0)) & 1 == 1 ? "1" : "0" }.joined(separator: ".")
    }

    private static func pattern(level: Int, bit: String) -> String {
        (Array(repeating: "*", count: delayLevels - 1 - level) + [bit, "#"]).joined(separator: ".")
    }

    /// Declares the work, dead-letter and in-flight queues.
    func declareBase(on connection: AMQPConnection, channel: UInt16) throws(RabbitMQError) {
        try connection.declareQueue(channel, main)
        try connection.declareQueue(channel, dead)
        for exponent in 0..<Self.inflightWeights { try connection.declareQueue(channel, inflight(exponent: exponent)) }
    }

    /// The cluster-wide in-flight count: every marker weight's consumer count, weighted.
    func inFlightCount(on connection: AMQPConnection, channel: UInt16) throws(RabbitMQError) -> Int {
        var total = 0
        var weight = 1
        for exponent in 0..<Self.inflightWeights {
            total += weight * (try connection.declareQueue(channel, inflight(exponent: exponent)).consumers)
            weight *= 10
        }
        return total
    }

    /// Declares the delay chain (idempotent).
    func declareDelays(on connection: AMQPConnection, channel: UInt16) throws(RabbitMQError) {
        for level in (0..<Self.delayLevels).reversed() {
            let ttl = Self.delayUnitMilliseconds << Int64(level)
            var arguments: [(String, AMQPFieldValue)] = [("x-message-ttl", .int(ttl))]
            if level == 0 {
                arguments += [("x-dead-letter-exchange", .string("")), ("x-dead-letter-routing-key", .string(main))]
            } else {
                arguments += [("x-dead-letter-exchange", .string(delayExchange(level - 1)))]
            }
            try connection.declareExchange(channel, delayExchange(level), type: "topic")
            try connection.declareQueue(channel, delayQueue(level), arguments: arguments)
            try connection.bindQueue(channel, queue: delayQueue(level), exchange: delayExchange(level), key: Self.pattern(level: level, bit: "1"))
        }
        for level in (0..<Self.delayLevels).reversed() {
            let clear = Self.pattern(level: level, bit: "0")
            if level == 0 {
                try connection.bindQueue(channel, queue: main, exchange: delayExchange(0), key: clear)
            } else {
                try connection.bindExchange(channel, destination: delayExchange(level - 1), source: delayExchange(level), key: clear)
            }
        }
    }

    /// Messages waiting in the delay chain (0 when no chain was declared yet). Uses passive
    /// declares on `channel`, which the broker closes when the chain does not exist; the
    /// chain is declared as a whole with q0 last, so q0 existing means all exist.
    func delayedCount(on connection: AMQPConnection, channel: UInt16) throws(RabbitMQError) -> Int {
        do {
            var total = try connection.declareQueue(channel, delayQueue(0), passive: true).messages
            for level in 1..<Self.delayLevels {
                total += try connection.declareQueue(channel, delayQueue(level), passive: true).messages
            }
            return total
        } catch where error.code == .channelClosed && error.replyCode == 404 {
            return 0
        }
    }
}
