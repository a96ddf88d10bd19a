import Foundation
import Synchronization

/// The broker's clock: the clock of the first node that used the broker, seen as offsets
/// from the moment the broker was created, so that the broker does not depend on a clock type.
struct MemoryQueueTime: Sendable {
    /// Time since the broker was created.
    let now: @Sendable () -> Duration
    /// Sleeps until the offset `deadline`; throws when cancelled.
    let sleep: @Sendable (_ deadline: Duration) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleep = { deadline in try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil) }
    }
}

/// The in-process "queue server" of one app: every memory queue node of that app on one
/// ``MemoryBackend`` works on the same broker, the way nodes share one Redis.
///
/// Message state is timed by the broker's clock (the clock of the first node created on the
/// backend for that app), like a server's clock; give every node the same clock.
final class MemoryQueueBroker: Sendable {
    let time: MemoryQueueTime

    private struct State {
        var queues: [String: MemoryQueueState] = [:]
        var sequence: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Distinguishes receipts of different brokers.
    private let tag = String(UInt32.random(in: 0 ... .max), radix: 36)

    init(time: MemoryQueueTime) {
        self.time = time
    }

    /// The broker of `appName` on `backend`, created with `clock` on first use.
    static func shared<C: Clock>(on backend: MemoryBackend, appName: String, clock: C) -> MemoryQueueBroker where C.Duration == Duration {
        backend.component("queue:\(appName)") { MemoryQueueBroker(time: MemoryQueueTime(clock)) }
    }

    enum Pull {
        case delivered(QueueDelivery)
        /// Nothing visible: wait on `signal` (after `generation`) until `nextChange` at the
        /// latest.
        case empty(signal: QueueWakeSignal, generation: UInt64, nextChange: Duration?)
    }

    /// Runs `body` on the normalized state of `queue` (created on first use).
    private func withQueue<R>(_ queue: String, _ body: (inout MemoryQueueState, _ now: Duration, _ state: inout State) -> R) -> R {
        let now = time.now()
        let wall = Self.wallMilliseconds()
        return state.withLock { state in
            var queueState = state.queues.removeValue(forKey: queue) ?? MemoryQueueState()
            queueState.normalize(now: now, wallMilliseconds: wall)
            defer { state.queues[queue] = queueState }
            return body(&queueState, now, &state)
        }
    }

    func publish(_ queue: String, body: [UInt8], options: QueuePublishOptions) -> QueueMessageID {
        let (id, signal) = withQueue(queue) { queueState, now, state in
            state.sequence += 1
            let id = QueueMessageID(String(state.sequence))
            let message = QueueMessage(id: id, queue: queue, body: body, headers: options.headers, attempt: 1,
                                       maxAttempts: options.maxAttempts, timeout: options.timeout, backoff: options.backoff,
                                       publishedAtMilliseconds: Self.wallMilliseconds())
            let due = options.delay.map { now + $0 }
            queueState.enqueue(.init(message: message, receipt: nil, order: state.sequence), due: due, now: now)
            return (id, queueState.signal)
        }
        signal.notifyAll()
        return id
    }

    func pull(_ queue: String, owner: NodeID, visibilityTimeout: Duration) -> Pull {
        withQueue(queue) { queueState, now, state in
            state.sequence += 1
            let receipt = "\(tag)-\(state.sequence)-\(owner)"
            if let delivery = queueState.take(owner: owner, receipt: receipt, deadline: now + visibilityTimeout) {
                return .delivered(delivery)
            }
            // Read under the broker lock: a change made after this check bumps the generation.
            return .empty(signal: queueState.signal, generation: queueState.signal.generation, nextChange: queueState.nextChange)
        }
    }

    func acknowledge(_ delivery: QueueDelivery) -> MemoryQueueState.Settlement {
        withQueue(delivery.message.queue) { queueState, _, _ in queueState.acknowledge(delivery) }
    }

    func reject(_ delivery: QueueDelivery, reason: String) -> Bool {
        let wall = Self.wallMilliseconds()
        let (owned, signal) = withQueue(delivery.message.queue) { queueState, now, _ in
            (queueState.reject(delivery, reason: reason, now: now, wallMilliseconds: wall), queueState.signal)
        }
        if owned { signal.notifyAll() }
        return owned
    }

    func extendVisibility(_ delivery: QueueDelivery, by duration: Duration) -> Bool {
        let (owned, signal) = withQueue(delivery.message.queue) { queueState, now, _ in
            (queueState.extend(delivery, until: now + duration), queueState.signal)
        }
        // A shortened claim may expire before the time waiters were told.
        if owned { signal.notifyAll() }
        return owned
    }

    func counts(_ queue: String) -> QueueCounts {
        withQueue(queue) { queueState, _, _ in queueState.counts }
    }

    func deadLetters(_ queue: String, limit: Int) -> [QueueDeadLetter] {
        withQueue(queue) { queueState, _, _ in queueState.deadLetters(limit: limit) }
    }

    func redrive(_ queue: String, ids: [QueueMessageID]?) -> Int {
        let (moved, signal) = withQueue(queue) { queueState, _, state in
            let moved = queueState.redrive(ids: ids.map(Set.init)) {
                state.sequence += 1
                return state.sequence
            }
            return (moved, queueState.signal)
        }
        if moved > 0 { signal.notifyAll() }
        return moved
    }

    func purge(_ queue: String) -> Int {
        withQueue(queue) { queueState, _, _ in queueState.purge() }
    }

    /// Wakes every waiting receive of every queue (a node closing wakes its own waiters).
    func wakeAll() {
        let signals = state.withLock { $0.queues.values.map(\.signal) }
        for signal in signals { signal.notifyAll() }
    }

    static func wallMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}
