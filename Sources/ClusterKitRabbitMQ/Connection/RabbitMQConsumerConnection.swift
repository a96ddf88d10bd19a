import CRabbitMQ
import ClusterKit
import Logging

/// The connection of one push consumer (``RabbitMQPushConsumer``), on its own thread.
///
/// Channel 1 carries the `basic.consume` subscription (prefetch set with `basic.qos`) and
/// its manual acknowledgements; channel 2 the queue declarations and the in-flight markers,
/// which is how every node counts in-flight messages: the connection keeps the decimal
/// digits of its number of unacknowledged deliveries as consumers on the weighted marker
/// queues (``RabbitMQQueueTopology/inflight(exponent:)``). In every
/// ``pump(acknowledge:subscribe:wait:)`` the markers are raised for its new deliveries
/// before they are returned (so before any handler sees them), by tens for a shortfall of
/// more than two (fewer frames; they may then stand for up to nine more); markers are
/// raised before others are lowered, so a reader never sees fewer than the deliveries
/// held. They are lowered to the held count once no delivery came for ``markerIdleTime``
/// (the stream paused or ended), and otherwise every ``markerLoweringInterval`` to the
/// most deliveries held at the end of a round during that interval: while deliveries keep
/// coming the held count hovers just under the prefetch, and lowering to it after every
/// round's acknowledgements only to raise again for its deliveries cost about twenty
/// `basic.consume`/`basic.cancel` frames per round, work for the broker that the count does
/// not need. A single round without deliveries is no pause: a busy consumer has many (its
/// window is full until handlers finish), and lowering in each of them made marker frames
/// two to five times as many as acknowledgement frames. So a reader may count, for up to
/// about two intervals, messages a busy consumer has already acknowledged; once its stream
/// pauses the count is exact again.
///
/// ## Acknowledgements
/// Delivery tags grow on a channel. The tags delivered and not yet acknowledged are kept
/// in order; of the tags to acknowledge, the longest run at the front is acknowledged with
/// one `basic.ack multiple`. A run shorter than a round (a quarter of the prefetch window)
/// waits, like the tags behind a running delivery, for later rounds to lengthen it, unless
/// it is all that is outstanding (acknowledgement frames per message 0.071 -> 0.035, the raw
/// loop's 0.020; each costs the broker a trip through the channel and queue processes).
/// The rest (settled behind a delivery still running) wait for a
/// later `multiple` to cover them, and are acknowledged one by one only once the prefetch
/// window is full, they waited ``acknowledgementHoldLimit``, or the connection closes
/// (each frame costs the broker CPU). A tag is acknowledged at most once (it
/// leaves the list when acknowledged), and only on the connection that delivered it: each
/// connection has an ``epoch`` and a tag of an older epoch is ignored (the broker requeued
/// that message when the old connection ended).
///
/// A delivery the consumer cannot settle (its failure could not be recorded, or it could
/// not be given back on a pause) is handed back with `basic.nack` and `requeue`, before any
/// acknowledgement of the same round, and leaves the list: the broker puts it back in the
/// queue and redelivers it (flagged redelivered: the next attempt). Left unacknowledged
/// instead, it would wait for the connection to end, and keep every acknowledgement after
/// it from being covered by a `multiple` (a later `multiple` never covers it: it is sent
/// only over tags that are all settled).
///
/// ## Reconnects
/// A broken connection is dropped; the next ``pump(acknowledge:subscribe:wait:)`` connects
/// again (no sooner than ``Backoff/reconnect`` allows), declares the queue and subscribes
/// again when asked to, under a new epoch.
actor RabbitMQConsumerConnection {
    nonisolated let executor: DedicatedThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// A message delivered to this consumer and not yet acknowledged.
    struct Delivery: Sendable {
        var epoch: UInt64
        var tag: UInt64
        var incoming: AMQPIncoming
    }

    private static let channel: UInt16 = 1
    private static let tokenChannel: UInt16 = 2

    private let settings: RabbitMQConnectionSettings
    private let topology: RabbitMQQueueTopology
    private let prefetch: Int
    /// The most deliveries one round returns: a quarter of the prefetch window. A round ends
    /// as soon as what was read is handed on, and the handlers' acknowledgements go out with
    /// the next round while the broker still has window left to send into. Reading the whole
    /// window in one round (as before) let it run dry: the broker waited for the round's
    /// acknowledgements every time (rabbitmq-consume, 100,000 messages, prefetch 200:
    /// 28-31k msg/s reading up to 200 per round, 32-37k up to 50; the raw loop 35-45k).
    private let roundSize: Int
    private let consumerTag: String
    private let logger: Logger
    /// Counts reconnects (`clusterkit_connection_reconnects`).
    private let connectionObserver = ConnectionObserver(adapter: "rabbitmq")
    private var connection: AMQPConnection?
    private(set) var epoch: UInt64 = 0
    private var subscribed = false
    /// Delivered, unacknowledged tags of the current epoch, ascending.
    private var outstanding: [UInt64] = []
    /// Tags of `outstanding` that were settled but are held back behind an earlier one
    /// still running (ascending; see ``settle(_:on:flushing:)``), and since when some are.
    private var settledAhead: [UInt64] = []
    private var heldSince: ContinuousClock.Instant?
    /// How long a settled delivery may wait for a `multiple` acknowledgement to cover it
    /// before it is acknowledged on its own.
    static let acknowledgementHoldLimit = Duration.milliseconds(10)
    /// The in-flight markers held on this connection, per weight exponent: together they
    /// stand for at least `outstanding.count` at the end of every round (see the type's
    /// documentation).
    private var markers = [Int](repeating: 0, count: RabbitMQQueueTopology.inflightWeights)
    /// When the markers were last brought down to the held count.
    private var markersLoweredAt = ContinuousClock.now
    /// How long markers may stand for more than the held count while deliveries keep coming.
    static let markerLoweringInterval = Duration.milliseconds(50)
    /// How long without a delivery counts as a pause of the stream (markers are lowered then).
    static let markerIdleTime = Duration.milliseconds(5)
    /// When the last delivery came.
    private var lastDeliveryAt = ContinuousClock.now
    /// The most deliveries held at the end of a round since the markers were last lowered:
    /// what a busy consumer's markers are lowered to.
    private var peakHeld = 0
    private var closed = false
    private var reconnects = ReconnectSchedule()

    init(settings: RabbitMQConnectionSettings, topology: RabbitMQQueueTopology, prefetch: Int, label: String, logger: Logger) {
        self.settings = settings
        self.topology = topology
        self.prefetch = min(max(1, prefetch), 65_535)
        roundSize = max(1, self.prefetch / 4)
        self.consumerTag = "ck-consumer-\(label)"
        self.logger = logger
        // The loop calls `pump` again within tens of microseconds of its return: polling that
        // long before parking saves the thread's sleep and wake-up per round (futex calls
        // per message 0.42 -> 0.28, client CPU unchanged; rabbitmq-consume, medians of 6).
        executor = DedicatedThreadExecutor(name: "ck-amqp-sub-\(label)", spinBeforeParking: .microseconds(50))
    }

    /// One round on the connection: connects when needed, hands `requeue` back to the queue,
    /// acknowledges `acknowledge`, subscribes or cancels the subscription to match
    /// `subscribe`, then waits up to `wait` for deliveries and returns those that came (at
    /// most a quarter of `prefetch`: see `roundSize`), with the epoch of
    /// the connection they came on and whether the prefetch window is full (`prefetch`
    /// deliveries unacknowledged: the broker pushes nothing more until some are).
    func pump(acknowledge: [(epoch: UInt64, tag: UInt64)], requeue: [(epoch: UInt64, tag: UInt64)] = [], subscribe: Bool,
              wait: Duration) throws(RabbitMQError) -> (epoch: UInt64, deliveries: [Delivery], windowFull: Bool) {
        let connection = try connected()
        do {
            if !requeue.isEmpty { try self.requeue(requeue, on: connection) }
            try settle(acknowledge, on: connection)
            if subscribe != subscribed {
                if subscribe {
                    try connection.consume(Self.channel, queue: topology.main, tag: consumerTag)
                } else {
                    try connection.cancel(Self.channel, tag: consumerTag)
                }
                subscribed = subscribe
            }
            var deliveries: [Delivery] = []
            // Held acknowledgements go out within their limit even when nothing else happens:
            // the wait ends by then, and the next round's `settle` sends them.
            var wait = wait
            if let heldSince {
                wait = min(wait, max(.zero, ContinuousClock.now.duration(to: heldSince.advanced(by: Self.acknowledgementHoldLimit))))
            }
            var next = try connection.waitFrame(timeout: wait)
            while let frame = next {
                if let delivery = try handle(frame, on: connection) { deliveries.append(delivery) }
                guard deliveries.count < roundSize, connection.hasBufferedFrames else { break }
                next = try connection.waitFrame(timeout: .zero)
            }
            let now = ContinuousClock.now
            if !deliveries.isEmpty { lastDeliveryAt = now }
            peakHeld = max(peakHeld, outstanding.count)
            let paused = now - lastDeliveryAt >= Self.markerIdleTime
            if paused || now - markersLoweredAt >= Self.markerLoweringInterval {
                try setMarkers(to: paused ? outstanding.count : peakHeld, on: connection)
                markersLoweredAt = now
                peakHeld = outstanding.count
            } else {
                try raiseMarkers(on: connection)
            }
            // Deliveries of this round filled the window while acknowledgements are held: send
            // those now, so that the broker goes on instead of the loop waiting for a handler.
            if outstanding.count >= prefetch, !settledAhead.isEmpty { try settle([], on: connection) }
            connection.releaseBuffers()
            return (epoch, deliveries, outstanding.count >= prefetch)
        } catch {
            // Any failure ends the connection, so that the caller can forget every delivery
            // of this epoch: the broker requeues them all.
            logger.warning("RabbitMQ consumer connection lost; unacknowledged messages go back to the queue",
                           metadata: ["error": "\(error)", "unacknowledged": "\(outstanding.count)"])
            dropConnection()
            throw error
        }
    }

    /// Blocks this connection's thread until `signal` is raised or `deadline` passes: how the
    /// consumer's loop waits for its handlers while the prefetch window is full and the
    /// broker sends nothing to read (a dedicated thread may block; the pool may not).
    /// (The signal's lock guards only the signal's own bit, never this actor's state, so this
    /// is not an actor that also takes a lock for its state.)
    func wait(for signal: WakeSignal, until deadline: ContinuousClock.Instant) {
        signal.wait(until: deadline)
    }

    /// Acknowledges what it can, cancels the subscription and closes the connection: the
    /// broker requeues every delivery left unacknowledged. Idempotent.
    func close(acknowledge: [(epoch: UInt64, tag: UInt64)]) {
        guard !closed else { return }
        closed = true
        if let connection, !connection.isBroken {
            try? settle(acknowledge, on: connection, flushing: true)
        }
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    // MARK: Frames

    private func handle(_ frame: amqp_frame_t, on connection: AMQPConnection) throws(RabbitMQError) -> Delivery? {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return nil }
        let method = frame.payload.method
        if method.id == CK_BASIC_DELIVER, frame.channel == Self.channel, let decoded = method.decoded {
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            var incoming = try connection.readContent(Self.channel)
            incoming.deliveryTag = deliver.delivery_tag
            incoming.redelivered = deliver.redelivered != 0
            outstanding.append(deliver.delivery_tag)
            return Delivery(epoch: epoch, tag: deliver.delivery_tag, incoming: incoming)
        }
        if method.id == CK_BASIC_CANCEL, frame.channel == Self.channel {
            // The broker cancelled the subscription (queue deleted): subscribe again next round.
            subscribed = false
            return nil
        }
        try connection.handleCloseFrame(frame)
        return nil
    }

    /// Acknowledges the tags of the current epoch that are still outstanding: the longest
    /// outstanding prefix at once with `multiple`. The others (settled behind a delivery
    /// still running) are held back in ``settledAhead``, so that the `multiple` of a later
    /// round covers them, instead of costing the broker a frame each; they are acknowledged
    /// one by one only when that cannot wait: the prefetch window is full (the broker sends
    /// nothing until some are acknowledged), they were held for ``acknowledgementHoldLimit``,
    /// or `flushing` (the connection closes). The tags are sorted and merged with
    /// `outstanding` (also ascending) instead of being put in a set: a round's receipts are
    /// few and mostly in order already.
    private func settle(_ receipts: [(epoch: UInt64, tag: UInt64)], on connection: AMQPConnection,
                        flushing: Bool = false) throws(RabbitMQError) {
        guard !outstanding.isEmpty else { return }
        var tags = settledAhead
        tags.reserveCapacity(settledAhead.count + receipts.count)
        for receipt in receipts where receipt.epoch == epoch { tags.append(receipt.tag) }
        guard !tags.isEmpty else { return }
        tags.sort()
        // The longest prefix of `outstanding` whose every tag is among `tags`.
        var prefix = 0
        var next = 0
        while prefix < outstanding.count {
            while next < tags.count, tags[next] < outstanding[prefix] { next += 1 }
            guard next < tags.count, tags[next] == outstanding[prefix] else { break }
            prefix += 1
            next += 1
        }
        let now = ContinuousClock.now
        // A short run waits for the next rounds to lengthen it (a frame covers at least a
        // quarter window, as the raw loop acknowledges every 50 of 200), unless it is all
        // that is outstanding, the window is full, it waited its limit, or the connection
        // closes.
        if prefix > 0, prefix < roundSize, prefix < outstanding.count, outstanding.count < prefetch, !flushing,
           heldSince.map({ now - $0 < Self.acknowledgementHoldLimit }) ?? true {
            settledAhead = tags
            if heldSince == nil { heldSince = now }
            return
        }
        if prefix > 0 {
            let last = outstanding[prefix - 1]
            outstanding.removeFirst(prefix)
            try connection.ack(Self.channel, tag: last, multiple: prefix > 1)
        }
        settledAhead.removeAll(keepingCapacity: true)
        // Tags below `last` were either in the prefix or not outstanding: skip them.
        guard next < tags.count, !outstanding.isEmpty else {
            heldSince = nil
            return
        }
        let flush = flushing || outstanding.count >= prefetch || heldSince.map { now - $0 >= Self.acknowledgementHoldLimit } ?? false
        var kept: [UInt64] = []
        if flush { kept.reserveCapacity(outstanding.count) }
        var single: [UInt64] = []
        for tag in outstanding {
            while next < tags.count, tags[next] < tag { next += 1 }
            if next < tags.count, tags[next] == tag {
                single.append(tag)
                next += 1
            } else if flush {
                kept.append(tag)
            }
        }
        guard flush else {
            settledAhead = single
            if single.isEmpty { heldSince = nil } else if heldSince == nil { heldSince = now }
            return
        }
        heldSince = nil
        outstanding = kept
        for tag in single {
            try connection.ack(Self.channel, tag: tag)
        }
    }

    /// Hands deliveries of the current epoch that are still outstanding back to the queue
    /// (`basic.nack`, requeue), one frame each: this happens only when settling failed.
    /// Sent before the round's acknowledgements, so the broker has settled them before a
    /// `multiple` could reach past them.
    private func requeue(_ receipts: [(epoch: UInt64, tag: UInt64)], on connection: AMQPConnection) throws(RabbitMQError) {
        for receipt in receipts where receipt.epoch == epoch {
            guard let index = Self.position(of: receipt.tag, in: outstanding) else { continue }
            try connection.nack(Self.channel, tag: receipt.tag, requeue: true)
            outstanding.remove(at: index)
            if let held = Self.position(of: receipt.tag, in: settledAhead) { settledAhead.remove(at: held) }
        }
        if settledAhead.isEmpty { heldSince = nil }
    }

    /// The index of `tag` in the ascending `tags`, if there.
    private static func position(of tag: UInt64, in tags: [UInt64]) -> Int? {
        var low = 0
        var high = tags.count
        while low < high {
            let middle = (low + high) / 2
            if tags[middle] < tag { low = middle + 1 } else { high = middle }
        }
        return low < tags.count && tags[low] == tag ? low : nil
    }

    /// What the in-flight markers stand for now.
    private var markedCount: Int {
        var standing = 0
        var weight = 1
        for count in markers {
            standing += count * weight
            weight *= 10
        }
        return standing
    }

    /// Makes the in-flight markers stand for exactly `count` (at least the held count), its
    /// decimal digits: first the weights that grow, then those that shrink.
    private func setMarkers(to count: Int, on connection: AMQPConnection) throws(RabbitMQError) {
        let weights = RabbitMQQueueTopology.inflightWeights
        var target = markers
        var remaining = count
        for exponent in 0..<weights {
            target[exponent] = exponent == weights - 1 ? remaining : remaining % 10
            remaining /= 10
        }
        guard target != markers else { return }
        for exponent in 0..<weights where target[exponent] > markers[exponent] {
            try addMarkers(exponent, target[exponent] - markers[exponent], on: connection)
        }
        for exponent in 0..<weights where target[exponent] < markers[exponent] {
            for index in target[exponent]..<markers[exponent] {
                try connection.cancelNoWait(Self.tokenChannel, tag: markerTag(exponent, index))
            }
            markers[exponent] = target[exponent]
        }
    }

    /// Raises the in-flight markers, when they stand for fewer than the held count, with as
    /// few frames as it takes: a shortfall of up to two by ones, a larger one by tens
    /// (standing for up to nine more than held until the next lowering), and nothing is
    /// lowered (setting the exact digits would cancel as many markers as it adds).
    private func raiseMarkers(on connection: AMQPConnection) throws(RabbitMQError) {
        let shortfall = outstanding.count - markedCount
        guard shortfall > 0 else { return }
        if shortfall <= 2 {
            try addMarkers(0, shortfall, on: connection)
        } else {
            try addMarkers(1, (shortfall + 9) / 10, on: connection)
        }
    }

    private func addMarkers(_ exponent: Int, _ count: Int, on connection: AMQPConnection) throws(RabbitMQError) {
        for index in markers[exponent]..<markers[exponent] + count {
            try connection.consumeNoWait(Self.tokenChannel, queue: topology.inflight(exponent: exponent),
                                         tag: markerTag(exponent, index))
            // Counted at once: should a later frame fail, the connection is dropped anyway.
            markers[exponent] = index + 1
        }
    }

    private func markerTag(_ exponent: Int, _ index: Int) -> String { "ck-held-\(epoch)-\(exponent)-\(index)" }

    // MARK: Connection

    private func connected() throws(RabbitMQError) -> AMQPConnection {
        guard !closed else { throw RabbitMQError(code: .closed, message: "the consumer connection is closed") }
        if let connection, !connection.isBroken { return connection }
        if connection != nil { dropConnection() }
        guard reconnects.allowsAttempt() else { throw reconnects.waitingError(url: settings.url) }
        do {
            let fresh = try settings.connect()
            try topology.declareBase(on: fresh, channel: Self.tokenChannel)
            try fresh.qos(Self.channel, prefetch: prefetch)
            connection = fresh
            connectionObserver.connected(logger: logger)
            epoch += 1
            subscribed = false
            outstanding.removeAll()
            settledAhead.removeAll()
            heldSince = nil
            markers = [Int](repeating: 0, count: RabbitMQQueueTopology.inflightWeights)
            peakHeld = 0
            if reconnects.succeeded() { logger.info("RabbitMQ consumer connection restored", metadata: ["url": "\(settings.url)"]) }
            return fresh
        } catch {
            reconnects.failed(error)
            throw error
        }
    }

    private func dropConnection() {
        connection?.close()
        connection = nil
        subscribed = false
        outstanding.removeAll()
        settledAhead.removeAll()
        heldSince = nil
        markers = [Int](repeating: 0, count: RabbitMQQueueTopology.inflightWeights)
        peakHeld = 0
    }
}
