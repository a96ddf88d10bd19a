/// The messages of one memory queue and the rules that move them between states.
///
/// Times are offsets on the broker's clock (see ``MemoryQueueTime``). Time-driven moves
/// (a delayed message coming due, a claim expiring) happen in ``normalize(now:wallMilliseconds:)``,
/// which the broker runs before every operation, so every operation sees the queue as of
/// `now`.
struct MemoryQueueState: Sendable {
    /// A message with the receipt of its latest delivery.
    struct Record: Sendable {
        var message: QueueMessage
        /// The receipt of the latest delivery; `nil` once that delivery was rejected. Kept
        /// when a claim expires, so a late acknowledgement still counts until the message is
        /// delivered again.
        var receipt: String?
        /// Publish order, to put expired claims back in their original order.
        let order: UInt64
    }

    private struct Claim: Sendable {
        var record: Record
        let owner: NodeID
        var deadline: Duration
    }

    private struct Scheduled: Sendable {
        let due: Duration
        /// Tie-breaker for equal due times: scheduling order.
        let sequence: UInt64
        let record: Record
    }

    enum Settlement: Equatable {
        /// The message is gone for good.
        case removed
        /// No such message any more: it was already acknowledged (or purged).
        case alreadyGone
        /// The message exists but this delivery no longer owns it.
        case notOwned
    }

    /// Notified when messages may have become visible (publish, retry, redrive, release).
    let signal = QueueWakeSignal()
    private var waiting = QueueFIFO<Record>()
    /// Sorted by (due, sequence).
    private var delayed: [Scheduled] = []
    private var scheduleSequence: UInt64 = 0
    private var inFlight: [QueueMessageID: Claim] = [:]
    /// Oldest first.
    private var dead: [QueueDeadLetter] = []

    /// Moves due delayed messages to the waiting tail (in due order) and expired claims to
    /// the waiting head with their attempt counted, or to the dead letters when they have
    /// used all their attempts.
    mutating func normalize(now: Duration, wallMilliseconds: Int64) {
        let expired = inFlight.values.filter { $0.deadline <= now }.sorted { $0.record.order > $1.record.order }
        for claim in expired {
            inFlight[claim.record.message.id] = nil
            var record = claim.record
            if record.message.attempt >= record.message.maxAttempts {
                let reason = "not acknowledged within its visibility timeout by \(claim.owner) (attempt \(record.message.attempt) of \(record.message.maxAttempts))"
                dead.append(QueueDeadLetter(message: record.message, lastError: reason, diedAtMilliseconds: wallMilliseconds))
            } else {
                record.message.attempt += 1
                waiting.prepend(record)
            }
        }
        let dueCount = delayed.prefix { $0.due <= now }.count
        for entry in delayed.prefix(dueCount) { waiting.append(entry.record) }
        delayed.removeFirst(dueCount)
    }

    /// Adds a new or retried message: visible now, or at `due` when that is later than `now`.
    mutating func enqueue(_ record: Record, due: Duration?, now: Duration) {
        guard let due, due > now else {
            waiting.append(record)
            return
        }
        scheduleSequence += 1
        let entry = Scheduled(due: due, sequence: scheduleSequence, record: record)
        // Binary search for the first entry due strictly later: equal due times keep
        // scheduling order.
        var low = 0
        var high = delayed.count
        while low < high {
            let mid = (low + high) / 2
            if delayed[mid].due <= due { low = mid + 1 } else { high = mid }
        }
        delayed.insert(entry, at: low)
    }

    /// Hands the first waiting message to `owner` until `deadline`.
    mutating func take(owner: NodeID, receipt: String, deadline: Duration) -> QueueDelivery? {
        guard var record = waiting.popFirst() else { return nil }
        record.receipt = receipt
        inFlight[record.message.id] = Claim(record: record, owner: owner, deadline: deadline)
        return QueueDelivery(message: record.message, receipt: receipt)
    }

    /// The next time something becomes visible without anyone acting: a delayed message
    /// coming due or a claim expiring.
    var nextChange: Duration? {
        let nextDue = delayed.first?.due
        let nextExpiry = inFlight.values.lazy.map(\.deadline).min()
        switch (nextDue, nextExpiry) {
        case let (due?, expiry?): return min(due, expiry)
        case let (due?, nil): return due
        case let (nil, expiry?): return expiry
        case (nil, nil): return nil
        }
    }

    mutating func acknowledge(_ delivery: QueueDelivery) -> Settlement {
        let id = delivery.message.id
        if let claim = inFlight[id] {
            guard claim.record.receipt == delivery.receipt else { return .notOwned }
            inFlight[id] = nil
            return .removed
        }
        // An expired claim not yet delivered again: the work is done, so the late
        // acknowledgement still removes the message.
        if let record = waiting.elements.first(where: { $0.message.id == id }) {
            guard record.receipt == delivery.receipt else { return .notOwned }
            _ = waiting.removeFirst { $0.message.id == id }
            return .removed
        }
        if delayed.contains(where: { $0.record.message.id == id }) || dead.contains(where: { $0.message.id == id }) {
            return .notOwned
        }
        return .alreadyGone
    }

    /// Records a failed attempt of an owned delivery: retry after the backoff, or dead
    /// letter when the attempts are used up. `false` when the delivery is not owned.
    mutating func reject(_ delivery: QueueDelivery, reason: String, now: Duration, wallMilliseconds: Int64) -> Bool {
        let id = delivery.message.id
        guard let claim = inFlight[id], claim.record.receipt == delivery.receipt else { return false }
        inFlight[id] = nil
        var record = claim.record
        record.receipt = nil
        let failed = record.message.attempt
        if failed >= record.message.maxAttempts {
            dead.append(QueueDeadLetter(message: record.message, lastError: reason, diedAtMilliseconds: wallMilliseconds))
        } else {
            record.message.attempt = failed + 1
            enqueue(record, due: now + record.message.backoff.delay(forRetry: failed), now: now)
        }
        return true
    }

    /// Moves the claim deadline of an owned delivery; `false` when not owned.
    mutating func extend(_ delivery: QueueDelivery, until deadline: Duration) -> Bool {
        let id = delivery.message.id
        guard let claim = inFlight[id], claim.record.receipt == delivery.receipt else { return false }
        inFlight[id]?.deadline = deadline
        return true
    }

    var counts: QueueCounts {
        QueueCounts(waiting: waiting.count, delayed: delayed.count, inFlight: inFlight.count, dead: dead.count)
    }

    func deadLetters(limit: Int) -> [QueueDeadLetter] {
        Array(dead.prefix(max(0, limit)))
    }

    /// Moves the dead letters with the given IDs (all when `nil`) to the waiting tail with a
    /// fresh attempt count; returns how many moved.
    mutating func redrive(ids: Set<QueueMessageID>?, order: () -> UInt64) -> Int {
        var moved = 0
        dead.removeAll { letter in
            guard ids?.contains(letter.message.id) ?? true else { return false }
            var message = letter.message
            message.attempt = 1
            waiting.append(Record(message: message, receipt: nil, order: order()))
            moved += 1
            return true
        }
        return moved
    }

    /// Removes the waiting messages; returns how many.
    mutating func purge() -> Int {
        waiting.removeAll()
    }
}
