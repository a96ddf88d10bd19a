import CHiredis
import ClusterKit
import Foundation
import Logging

/// One hiredis connection, pinned to its own OS thread: every blocking C call runs on the
/// actor's ``DedicatedThreadExecutor``, never on Swift's cooperative pool, and never on two
/// threads at once (a hiredis context is not thread-safe).
///
/// ## Auto-pipelining
/// ``submit(_:)`` only queues the commands and schedules one *drain* job on the thread. Jobs
/// run in order, so while a drain is busy on the network every other caller's `submit` job
/// waits behind it; the next drain then takes the whole queue: it encodes every queued
/// command into one buffer, writes it with one `write`, and reads the replies in order,
/// handing each caller its own. N concurrent callers cost about one round trip, not N.
///
/// A lone caller — nothing pending, no drain scheduled and no other job queued on the
/// thread — skips the queue: its `submit` does the round trip at once, on the thread, in
/// the same job (no continuation, no drain job). Anything that arrives meanwhile queues
/// behind it and goes out in the next batch, so ordering and batching are unchanged.
///
/// ## Faults
/// - Every read and write is bounded by the command timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`),
///   connecting (and AUTH/SELECT) by the connect timeout: nothing hangs.
/// - A broken connection (EOF, reset, timeout, protocol error) fails the commands in
///   flight with a typed ``RedisError`` and frees the context. The next command reconnects
///   at once; if that fails, further attempts wait with capped exponential backoff and
///   commands arriving meanwhile fail immediately with the last error.
/// - The loss and the recovery are each logged once, never per command.
/// - After ``close()`` queued and new commands fail with ``RedisError/closed``.
actor RedisConnection {
    nonisolated let executor: DedicatedThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// One caller's queued commands and the continuation its replies go to.
    private struct Pending {
        let commands: Commands
        let waiter: Waiter
    }

    /// A caller's commands: a single one (``submit(_:)-(RedisCommand)``, no array on the
    /// way in or out) or a list.
    private enum Commands {
        case one(RedisCommand)
        case many([RedisCommand])
    }

    /// The replies to a ``Commands``, in the same shape.
    private enum Replies {
        case one(RedisReply)
        case many([RedisReply])
    }

    /// Where a caller's replies go. Unchecked continuations: each is resumed exactly once,
    /// by ``exchange(_:commands:finish:)`` (which finishes every entry once) or by
    /// ``close()``; a checked one allocated a canary object per command (one allocation of
    /// a publish's).
    private enum Waiter {
        case one(UnsafeContinuation<RedisReply, any Error>)
        case many(UnsafeContinuation<[RedisReply], any Error>)

        func resume(with result: Result<Replies, RedisError>) {
            switch (self, result) {
            case (_, .failure(let error)): fail(error)
            case (.one(let continuation), .success(.one(let reply))): continuation.resume(returning: reply)
            case (.many(let continuation), .success(.many(let replies))): continuation.resume(returning: replies)
            // Not reached: replies always have the shape of their commands.
            case (.one(let continuation), .success(.many(let replies))): continuation.resume(returning: replies[0])
            case (.many(let continuation), .success(.one(let reply))): continuation.resume(returning: [reply])
            }
        }

        func fail(_ error: any Error) {
            switch self {
            case .one(let continuation): continuation.resume(throwing: error)
            case .many(let continuation): continuation.resume(throwing: error)
            }
        }
    }

    private enum State {
        case connected
        /// Not connected; the next attempt may start at `retryAt`.
        case disconnected(failures: Int, retryAt: ContinuousClock.Instant, lastError: RedisError?)
        case closed
    }

    private let configuration: RedisClientConfiguration
    private let logger: Logger
    private let clock = ContinuousClock()
    /// The live connection; dropping the handle frees it.
    private var handle: HiredisContext?
    private var state: State
    /// Whether a connection was ever established (to log losses and recoveries, not the
    /// first connect).
    private var wasConnected = false
    /// Counts reconnects (`clusterkit_connection_reconnects`).
    private let connectionObserver = ConnectionObserver(adapter: "redis")
    private var pending: [Pending] = []
    private var drainScheduled = false
    /// The commands of the batch being written, encoded.
    private let buffer = RedisWriteBuffer()
    /// The arena every reply is parsed into (made on first use).
    private var flatReply: RedisFlatReply?
    /// Batches written and commands they carried since the connection was created (for
    /// tests and diagnostics: commands / batches is the auto-pipelining factor).
    private(set) var statistics = Statistics()

    struct Statistics: Sendable, Hashable {
        var batches = 0
        var commands = 0
    }

    init(configuration: RedisClientConfiguration, name: String, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.executor = DedicatedThreadExecutor(name: name, spinBeforeParking: configuration.idleSpin)
        self.state = .disconnected(failures: 0, retryAt: ContinuousClock().now, lastError: nil)
    }

    deinit {
        executor.shutdown()
    }

    // MARK: Public operations

    /// Connects now (if not connected), surfacing connect and authentication errors.
    func start() throws(RedisError) {
        try ensureConnected(ignoringBackoff: true)
    }

    /// Queues `commands` to be written in the next batch and returns their replies in order
    /// (error replies as ``RedisReply/error(_:)`` values). Throws for connection failures.
    func submit(_ commands: [RedisCommand]) async throws -> [RedisReply] {
        if case .closed = state { throw RedisError.closed }
        if pending.isEmpty && !drainScheduled && !executor.hasQueuedJobs {
            var outcome: Result<[RedisReply], RedisError> = .failure(RedisError.closed)
            exchange(CollectionOfOne(Commands.many(commands)), commands: { $0 }) { _, result in
                outcome = result.map { if case .many(let replies) = $0 { replies } else { [] } }
            }
            return try outcome.get()
        }
        return try await withUnsafeThrowingContinuation { continuation in
            enqueue(Pending(commands: .many(commands), waiter: .many(continuation)))
        }
    }

    /// Like ``submit(_:)-([RedisCommand])`` for one command, without the command and reply
    /// arrays (the sequential `GET` path): its reply (an error reply as a value).
    func submit(_ command: RedisCommand) async throws -> RedisReply {
        if case .closed = state { throw RedisError.closed }
        if pending.isEmpty && !drainScheduled && !executor.hasQueuedJobs {
            var outcome: Result<RedisReply, RedisError> = .failure(RedisError.closed)
            exchange(CollectionOfOne(Commands.one(command)), commands: { $0 }) { _, result in
                outcome = result.map { switch $0 { case .one(let reply): reply; case .many(let replies): replies[0] } }
            }
            return try outcome.get()
        }
        return try await withUnsafeThrowingContinuation { continuation in
            enqueue(Pending(commands: .one(command), waiter: .one(continuation)))
        }
    }

    /// Queues `entry` and schedules a drain if none is.
    private func enqueue(_ entry: Pending) {
        pending.append(entry)
        if !drainScheduled {
            drainScheduled = true
            Task { self.drain() }
        }
    }

    /// Fails queued commands with ``RedisError/closed`` and frees the connection; later
    /// submissions fail with it too. Idempotent. The thread exits when the actor is
    /// released (its deinit shuts the executor down): shutting it down here would strand
    /// any job enqueued afterwards — a racing `submit` — on a thread that is gone.
    func close() {
        if case .closed = state { return }
        state = .closed
        let waiting = pending
        pending.removeAll()
        for entry in waiting { entry.waiter.fail(RedisError.closed) }
        handle = nil
    }

    // MARK: The batch

    /// Writes every queued command as one batch and reads the replies in order.
    private func drain() {
        drainScheduled = false
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        exchange(batch, commands: \.commands, finish: { entry, result in entry.waiter.resume(with: result) })
    }

    /// One batch on the wire: connects if needed, writes the commands of every entry of
    /// `entries` with one `write`, reads the replies in order and hands each entry its own
    /// (`finish` is called exactly once per entry, in order). A broken connection fails
    /// the entries not yet answered and drops the connection.
    private func exchange<Entries: Collection>(_ entries: Entries, commands: (Entries.Element) -> Commands,
                                                finish: (Entries.Element, Result<Replies, RedisError>) -> Void) {
        let context: UnsafeMutablePointer<redisContext>
        do throws(RedisError) {
            try ensureConnected(ignoringBackoff: false)
            guard let current = handle?.pointer else { throw RedisError.closed }
            context = current
        } catch {
            for entry in entries { finish(entry, .failure(error)) }
            return
        }
        buffer.removeAll()
        for entry in entries {
            switch commands(entry) {
            case .one(let command):
                buffer.append(command)
                statistics.commands += 1
            case .many(let list):
                for command in list { buffer.append(command) }
                statistics.commands += list.count
            }
        }
        statistics.batches += 1
        if let error = writeBatch(to: context) {
            fail(entries[...], with: error, finish: finish)
            return
        }
        // Each reply is parsed into the arena and copied from there: hiredis's parser and
        // reply objects cost about 250 instructions and two allocations (and frees) per
        // reply element on top of the copy.
        let flat = flatArena
        defer { flat.trim() }
        /// The next reply, or `nil` after failing the entries from `position` on.
        func nextReply(failingFrom position: Entries.Index) -> RedisReply? {
            guard flat.read(from: context) else {
                fail(entries[position...], with: connectionError(context, while: "waiting for replies", timeout: configuration.commandTimeout),
                     finish: finish)
                return nil
            }
            return flat.reply.copied
        }
        var position = entries.startIndex
        while position != entries.endIndex {
            let entry = entries[position]
            switch commands(entry) {
            case .one:
                guard let reply = nextReply(failingFrom: position) else { return }
                finish(entry, .success(.one(reply)))
            case .many(let list):
                var replies: [RedisReply] = []
                replies.reserveCapacity(list.count)
                for _ in 0..<list.count {
                    guard let reply = nextReply(failingFrom: position) else { return }
                    replies.append(reply)
                }
                finish(entry, .success(.many(replies)))
            }
            entries.formIndex(after: &position)
        }
    }

    // MARK: Decoding a reply on the thread

    /// Runs `command` and hands its reply to `decode` on this thread, parsed into this
    /// connection's reusable ``RedisFlatReply`` arena (no reply tree is built). An error reply throws
    /// ``RedisError/Code/serverError`` without calling `decode`. Commands other callers
    /// queued before it are written and answered first, so commands keep their order; this
    /// one is not batched with them (it suits a connection's single reader, such as a
    /// blocking `XREAD` loop). A broken connection throws and drops the connection, as for
    /// ``submit(_:)``.
    func submit<Decoded: Sendable>(_ command: RedisCommand,
                                   decodingWith decode: @Sendable (RedisRawReply) throws(RedisError) -> Decoded) throws(RedisError) -> Decoded {
        if case .closed = state { throw RedisError.closed }
        if !pending.isEmpty { drain() }
        try ensureConnected(ignoringBackoff: false)
        guard let context = handle?.pointer else { throw RedisError.closed }
        buffer.removeAll()
        buffer.append(command)
        statistics.commands += 1
        statistics.batches += 1
        if let error = writeBatch(to: context) {
            dropConnection(after: error)
            throw error
        }
        // Parsed into this connection's reusable arena rather than hiredis's reply tree.
        let flat = flatArena
        guard flat.read(from: context) else {
            let error = connectionError(context, while: "waiting for replies", timeout: configuration.commandTimeout)
            dropConnection(after: error)
            throw error
        }
        defer { flat.trim() }
        let reply = flat.reply
        if reply.kind == .error { throw RedisError.serverError(String(decoding: reply.bytes, as: UTF8.self)) }
        return try decode(reply)
    }

    /// ``flatReply``, made if needed.
    private var flatArena: RedisFlatReply {
        if let flat = flatReply { return flat }
        let flat = RedisFlatReply()
        flatReply = flat
        return flat
    }

    /// Writes the encoded batch to the socket, blocking (each `write` is bounded by the
    /// command timeout, `SO_SNDTIMEO`). Straight from ``buffer``, not through hiredis's
    /// output buffer, which copied every batch and allocated and freed a buffer for it;
    /// that buffer is used only while connecting and is empty by now. Returns the error hiredis
    /// would have reported for the failed write, mapped as ``connectionError(_:while:timeout:)``
    /// maps it: a send timeout is ``RedisError/Code/timeout``, anything else
    /// ``RedisError/Code/connectionLost``.
    private func writeBatch(to context: UnsafeMutablePointer<redisContext>) -> RedisError? {
        let bytes = buffer.bytes
        guard let base = bytes.baseAddress else { return nil }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(context.pointee.fd, base + offset, bytes.count - offset)
            if written > 0 {
                offset += written
                continue
            }
            let code = written < 0 ? errno : EPIPE
            if code == EINTR { continue }
            let url = configuration.url
            if code == EAGAIN || code == EWOULDBLOCK {
                return RedisError(code: .timeout, message: "could not send commands to \(url) within \(configuration.commandTimeout) (the server does not read)")
            }
            return RedisError(code: .connectionLost, message: "connection to \(url) broke while sending commands: \(String(cString: strerror(code)))")
        }
        return nil
    }

    /// Fails `entries` with `error` and drops the broken connection.
    private func fail<Entries: Collection>(_ entries: Entries, with error: RedisError,
                                           finish: (Entries.Element, Result<Replies, RedisError>) -> Void) {
        dropConnection(after: error)
        for entry in entries { finish(entry, .failure(error)) }
    }

    // MARK: Connecting

    private func ensureConnected(ignoringBackoff: Bool) throws(RedisError) {
        // Checked first on its own: matching the cases that bind values copied the whole
        // state (its error's text included) on every command.
        if case .connected = state { return }
        try connect(ignoringBackoff: ignoringBackoff)
    }

    private func connect(ignoringBackoff: Bool) throws(RedisError) {
        switch state {
        case .connected:
            return
        case .closed:
            throw RedisError.closed
        case .disconnected(let failures, let retryAt, let lastError):
            if !ignoringBackoff, let lastError, clock.now < retryAt {
                throw RedisError(code: lastError.code == .authenticationFailed ? .authenticationFailed : .connectionLost,
                                 message: "not connected to \(configuration.url) (last error: \(lastError.message)); retrying with backoff")
            }
            do {
                handle = HiredisContext(pointer: try openContext())
            } catch {
                let failures = failures + 1
                state = .disconnected(failures: failures, retryAt: clock.now + configuration.reconnectBackoff.delay(forRetry: failures),
                                      lastError: error)
                throw error
            }
            state = .connected
            connectionObserver.connected(logger: logger)
            if wasConnected {
                logger.info("redis connection re-established", metadata: ["url": "\(configuration.url)", "attempts": "\(failures + 1)"])
            }
            wasConnected = true
        }
    }

    /// Frees the context after a failure; the next command reconnects at once.
    private func dropConnection(after error: RedisError) {
        handle = nil
        guard case .connected = state else { return }
        state = .disconnected(failures: 0, retryAt: clock.now, lastError: error)
        logger.warning("redis connection lost; reconnecting on demand with backoff",
                       metadata: ["url": "\(configuration.url)", "error": "\(error.message)"])
    }

    /// Opens a connection, authenticates and selects the database within the connect
    /// timeout, then arms the command timeout.
    private func openContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        let url = configuration.url
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), timeval(configuration.connectTimeout)) else {
            throw RedisError(code: .connectionFailed, message: "cannot connect to \(url): out of memory")
        }
        if context.pointee.err != 0 {
            let reason = String(cString: clusterkit_redis_errstr(context))
            redisFree(context)
            throw RedisError(code: .connectionFailed, message: "cannot connect to \(url) (connect timeout \(configuration.connectTimeout)): \(reason)")
        }
        var handshake: [RedisCommand] = []
        if let password = url.password {
            handshake.append(url.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if url.database != 0 { handshake.append(RedisCommand("SELECT", url.database)) }
        // PING proves the server answers (and surfaces NOAUTH when a password is required).
        handshake.append(RedisCommand("PING"))
        redisSetTimeout(context, timeval(configuration.connectTimeout))
        buffer.removeAll()
        for command in handshake { buffer.append(command) }
        let appended = buffer.bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        var failure: RedisError?
        if appended != REDIS_OK { failure = connectionError(context, while: "connecting", timeout: configuration.connectTimeout) }
        for command in handshake where failure == nil {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                failure = connectionError(context, while: "connecting", timeout: configuration.connectTimeout)
                break
            }
            let reply = RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            if case .error(let message) = reply {
                let name = command.description
                let isAuth = name == "AUTH" || message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS")
                failure = if isAuth {
                    RedisError(code: .authenticationFailed, message: "authentication to \(url) failed: \(message)")
                } else if name == "SELECT" {
                    // Usually "ERR DB index is out of range": the URL names a database the
                    // server's `databases` setting does not provide.
                    RedisError(code: .connectionFailed,
                               message: "cannot select database \(url.database) (the URL's /\(url.database)) on \(url): \(message)")
                } else {
                    RedisError(code: .connectionFailed, message: "\(name) on \(url) failed: \(message)")
                }
            }
        }
        if let failure {
            redisFree(context)
            throw failure.code == .connectionLost || failure.code == .timeout
                ? RedisError(code: failure.code == .timeout ? .timeout : .connectionFailed, message: failure.message)
                : failure
        }
        redisSetTimeout(context, timeval(configuration.commandTimeout))
        return context
    }

    /// The typed error for the failure hiredis recorded on `context`.
    private func connectionError(_ context: UnsafeMutablePointer<redisContext>, while doing: String, timeout: Duration) -> RedisError {
        let reason = String(cString: clusterkit_redis_errstr(context))
        let url = configuration.url
        switch context.pointee.err {
        case REDIS_ERR_IO where reason.contains("temporarily unavailable") || reason.contains("timed out"):
            return RedisError(code: .timeout, message: "no reply from \(url) within \(timeout) while \(doing)")
        case REDIS_ERR_PROTOCOL, REDIS_ERR_OOM:
            return RedisError(code: .protocolError, message: "bad reply from \(url) while \(doing): \(reason)")
        case REDIS_ERR_EOF:
            return RedisError(code: .connectionLost, message: "\(url) closed the connection while \(doing)")
        default:
            return RedisError(code: .connectionLost, message: "connection to \(url) broke while \(doing): \(reason)")
        }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}

/// Owns a hiredis context and frees it when dropped. Used only by its ``RedisConnection``,
/// on the connection's thread (or in the actor's deinit, when nothing else can reach it).
private final class HiredisContext {
    let pointer: UnsafeMutablePointer<redisContext>

    init(pointer: UnsafeMutablePointer<redisContext>) { self.pointer = pointer }

    deinit { redisFree(pointer) }
}
