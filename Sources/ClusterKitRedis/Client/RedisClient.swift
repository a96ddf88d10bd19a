import ClusterKit
import Foundation
import Logging
import Synchronization

/// A Redis client over a small pool of hiredis connections, each pinned to its own thread.
///
/// - Commands are spread round-robin over the pool; commands issued concurrently on one
///   connection are auto-pipelined (see ``RedisConnection``): written as one batch, replies
///   read in order.
/// - A sequential caller can run inside ``withConnectionAffinity(isolation:_:)``: its code
///   then runs on one connection's thread and its commands go to that connection, without
///   the two thread hand-offs per command a caller on the cooperative pool pays.
/// - ``send(_:)`` throws the server's error reply as ``RedisError/Code/serverError``;
///   ``pipeline(_:)`` keeps error replies as values; ``transaction(_:)`` wraps commands in
///   `MULTI`/`EXEC`; ``evaluate(_:keys:arguments:)`` runs a Lua script by SHA with an
///   `EVAL` fallback.
/// - ``connect(_:logger:)`` opens every connection before returning, so a wrong password or
///   an unreachable server is reported at startup (``RedisError/Code/authenticationFailed``,
///   ``RedisError/Code/connectionFailed``) within the connect timeout.
/// - Broken connections are re-established on demand with capped exponential backoff.
/// - ``close()`` fails pending commands with ``RedisError/closed``; the threads stop when
///   the client is released.
/// - Cancelling a caller does not interrupt a command already queued: it completes (or
///   fails) within the command timeout. A command that failed with
///   ``RedisError/Code/timeout`` or ``RedisError/Code/connectionLost`` may or may not have
///   run on the server; the client never retries on its own.
public final class RedisClient: Sendable {
    public let configuration: RedisClientConfiguration
    private let connections: [RedisConnection]
    private let next = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    private init(configuration: RedisClientConfiguration, connections: [RedisConnection]) {
        self.configuration = configuration
        self.connections = connections
    }

    /// Opens `configuration.poolSize` connections; throws the first connection's error
    /// (after closing what was opened).
    public static func connect(_ configuration: RedisClientConfiguration,
                               logger: Logger = Logger(label: "clusterkit.redis")) async throws(RedisError) -> RedisClient {
        _ = ignoreBrokenPipes
        let connections = (0..<max(1, configuration.poolSize)).map { index in
            RedisConnection(configuration: configuration, name: "redis-\(configuration.url.port)-\(index)", logger: logger)
        }
        let client = RedisClient(configuration: configuration, connections: connections)
        for connection in connections {
            do {
                try await connection.start()
            } catch {
                await client.close()
                throw error
            }
        }
        return client
    }

    /// Runs one command; an error reply throws ``RedisError/Code/serverError``.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisReply {
        try await submit(command, on: pick()).checked()
    }

    /// Runs `commands` back to back on one connection, written in one batch; returns every
    /// reply in order, error replies included as ``RedisReply/error(_:)``. Not atomic: use
    /// ``transaction(_:)`` for that.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisReply] {
        if commands.isEmpty { return [] }
        return try await submit(commands, on: pick())
    }

    /// Runs `commands` atomically inside `MULTI`/`EXEC` and returns their replies (error
    /// replies as values). A command the server refuses to queue aborts the whole
    /// transaction with ``RedisError/Code/serverError``.
    public func transaction(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisReply] {
        let replies = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
        for reply in replies.dropLast() { _ = try reply.checked() }
        switch try replies[replies.count - 1].checked() {
        case .array(let results): return results
        case .null: throw RedisError.serverError("the transaction was aborted")
        case let other: throw other.unexpected("an EXEC array")
        }
    }

    /// Runs `script` with `EVALSHA`, or with `EVAL` when the server does not know it yet.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument] = []) async throws(RedisError) -> RedisReply {
        let tail: [any RedisArgument] = [keys.count] + keys + arguments
        do {
            return try await send(RedisCommand("EVALSHA", arguments: [script.sha1] + tail))
        } catch where error.isServerError(prefix: "NOSCRIPT") {
            return try await send(RedisCommand("EVAL", arguments: [script.source] + tail))
        }
    }

    /// Runs `body` on the thread of one of the pool's connections (with that connection's
    /// ``DedicatedThreadExecutor`` as task-executor preference); every command it sends
    /// through this client, from that thread, goes to that connection.
    ///
    /// For sequential callers (one command after another): each command then costs the
    /// network round trip only — no hand-off from the cooperative pool to the connection's
    /// thread and back. Blocking calls stay off the cooperative pool; the price is that
    /// `body`'s own nonisolated code shares the connection's thread, so keep CPU-heavy work
    /// out of it. Concurrent callers do better without it (auto-pipelining over the whole
    /// pool). Child tasks created in `body` inherit the preference; code isolated to an
    /// actor (e.g. the main actor) still runs on that actor. Replies, ordering and errors
    /// are exactly those of the same calls made outside.
    public func withConnectionAffinity<T, Failure: Error>(isolation: isolated (any Actor)? = #isolation,
                                                          _ body: () async throws(Failure) -> T) async throws(Failure) -> T {
        // Round-robin, not ``pick()``'s preference for an awake connection: concurrent
        // sequential callers each get a thread of their own, as far as the pool allows.
        try await withTaskExecutorPreference(nextRoundRobin().executor, isolation: isolation, operation: body)
    }

    /// The index in the pool of the connection whose thread runs the caller, `nil` when
    /// the caller runs on none of them (for tests and diagnostics).
    var connectionIndexOnCurrentThread: Int? {
        connections.firstIndex { $0.executor.isCurrentThread }
    }

    /// `PING` on every connection (reconnecting broken ones).
    public func checkHealth() async throws(RedisError) {
        for connection in connections {
            _ = try await submit(RedisCommand("PING"), on: connection).checked()
        }
    }

    /// Batches written and commands carried, summed over the pool.
    func statistics() async -> (batches: Int, commands: Int) {
        var total = (batches: 0, commands: 0)
        for connection in connections {
            let stats = await connection.statistics
            total.batches += stats.batches
            total.commands += stats.commands
        }
        return total
    }

    /// Closes every connection. Idempotent.
    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for connection in connections { await connection.close() }
    }

    /// The connection whose thread runs the caller (inside ``withConnectionAffinity(isolation:_:)``),
    /// else one whose thread is awake with nothing to do (it just answered, typically this
    /// caller's previous command: a sequential caller keeps using it and costs no wake-up),
    /// else the next one round-robin.
    func pick() -> RedisConnection {
        if connections.count == 1 { return connections[0] }
        for connection in connections where connection.executor.isCurrentThread { return connection }
        for connection in connections where connection.executor.isSpinning { return connection }
        return nextRoundRobin()
    }

    private func nextRoundRobin() -> RedisConnection {
        connections[next.add(1, ordering: .relaxed).oldValue % connections.count]
    }

    /// Whether ``close()`` has been called.
    var isClosed: Bool { closed.load(ordering: .relaxed) }

    private func submit(_ command: RedisCommand, on connection: RedisConnection) async throws(RedisError) -> RedisReply {
        try await guarded { try await connection.submit(command) }
    }

    private func submit(_ commands: [RedisCommand], on connection: RedisConnection) async throws(RedisError) -> [RedisReply] {
        try await guarded { try await connection.submit(commands) }
    }

    /// Runs a submission unless the client is closed, as a ``RedisError`` (any other error
    /// from the connection means it was lost).
    private func guarded<Result>(_ body: () async throws -> Result) async throws(RedisError) -> Result {
        if isClosed { throw RedisError.closed }
        do {
            return try await body()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(code: .connectionLost, message: "\(error)")
        }
    }
}

/// Writing to a socket the server closed raises SIGPIPE, whose default action ends the
/// process; hiredis uses plain `write`. Ignoring it turns that into an EPIPE error, which
/// becomes ``RedisError/Code/connectionLost``. Set once, process-wide, on first connect.
private let ignoreBrokenPipes: Void = {
    signal(SIGPIPE, SIG_IGN)
}()
