import ClusterKit
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Foundation
import Testing

@Suite("Redis client", .serialized)
struct RedisClientTests {
    @Test func basicCommandsRoundTrip() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("basic") + "k"
        #expect(try await client.send(RedisCommand("SET", key, "hello")) == .status("OK"))
        #expect(try await client.send(RedisCommand("GET", key)).bytes() == Array("hello".utf8))
        #expect(try await client.send(RedisCommand("INCR", key + "n")).integer() == 1)
        #expect(try await client.send(RedisCommand("DEL", key, key + "n")).integer() == 2)
        #expect(try await client.send(RedisCommand("GET", key)) == .null)
    }

    @Test func argumentsAndRepliesAreBinarySafe() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let allBytes = (0...255).map { UInt8($0) }
        let key = Array(uniquePrefix("binary").utf8) + allBytes + [13, 10, 0]
        let value = allBytes + [13, 10] + allBytes.reversed()
        try await client.send(RedisCommand("SET", key, value))
        #expect(try await client.send(RedisCommand("GET", key)).bytes() == value)
        #expect(try await client.send(RedisCommand("STRLEN", key)).integer() == Int64(value.count))
        try await client.send(RedisCommand("DEL", key))
    }

    @Test func anErrorReplyIsAServerErrorWithRedisMessage() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("wrongtype") + "list"
        try await client.send(RedisCommand("RPUSH", key, "x"))
        let error = try await #require(throws: RedisError.self) { try await client.send(RedisCommand("INCR", key)) }
        #expect(error.code == .serverError)
        #expect(error.message.hasPrefix("WRONGTYPE"), "\(error)")
        // The connection is still usable after an error reply.
        #expect(try await client.send(RedisCommand("LLEN", key)).integer() == 1)
        try await client.send(RedisCommand("DEL", key))
    }

    @Test func concurrentCommandsGetTheirOwnReplies() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let prefix = uniquePrefix("concurrent")
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<200 {
                group.addTask {
                    var wrong = 0
                    for round in 0..<10 {
                        let key = "\(prefix)\(task)"
                        let value = "value-\(task)-\(round)"
                        try await client.send(RedisCommand("SET", key, value))
                        if try await client.send(RedisCommand("GET", key)).bytes() != Array(value.utf8) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        let counter = prefix + "counter"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<500 { group.addTask { try await client.send(RedisCommand("INCR", counter)) } }
            try await group.waitForAll()
        }
        #expect(try await client.send(RedisCommand("GET", counter)).integer() == 500)
        try await client.send(RedisCommand("DEL", arguments: [counter] + (0..<200).map { "\(prefix)\($0)" }))
    }

    @Test func concurrentCommandsShareBatches() async throws {
        let client = try await makeClient(try await RedisServer.shared().url(query: "pool_size=1"))
        defer { Task { await client.close() } }
        let key = uniquePrefix("batches") + "n"
        let before = await client.statistics()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<500 { group.addTask { try await client.send(RedisCommand("INCR", key)) } }
            try await group.waitForAll()
        }
        let after = await client.statistics()
        let commands = after.commands - before.commands
        let batches = after.batches - before.batches
        #expect(commands == 500)
        // Auto-pipelining: commands queued while a batch is on the wire go out together.
        #expect(batches < commands / 2, "\(commands) concurrent commands took \(batches) batches")
        #expect(try await client.send(RedisCommand("GETDEL", key)).integer() == 500)
    }

    /// Which of `client`'s connection threads runs the caller (nil: none), read from a
    /// nonisolated async function and directly in the caller's own code.
    nonisolated static func connectionThread(_ client: RedisClient) async -> Int? { client.connectionIndexOnCurrentThread }

    @Test func connectionAffinityRunsOnOneConnectionThreadWithTheSameReplies() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("affinity") + "k"
        #expect(await Self.connectionThread(client) == nil, "a plain task ran on a connection thread")
        let (threads, replies, error) = try await client.withConnectionAffinity { () async throws -> ([Int?], [RedisReply], RedisError?) in
            var threads = [await Self.connectionThread(client)]
            var replies: [RedisReply] = []
            replies.append(try await client.send(RedisCommand("SET", key, "v")))
            threads.append(await Self.connectionThread(client))
            replies.append(try await client.send(RedisCommand("GET", key)))
            threads.append(client.connectionIndexOnCurrentThread)
            replies += try await client.pipeline([RedisCommand("INCR", key + "n"), RedisCommand("INCR", key + "n")])
            threads.append(await Self.connectionThread(client))
            replies += try await client.transaction([RedisCommand("INCR", key + "n")])
            var error: RedisError?
            do throws(RedisError) {
                try await client.send(RedisCommand("INCR", key))
            } catch let caught {
                error = caught
            }
            threads.append(await Self.connectionThread(client))
            return (threads, replies, error)
        }
        #expect(threads.allSatisfy { $0 != nil }, "ran off the connection threads: \(threads)")
        #expect(Set(threads).count == 1, "moved between connection threads: \(threads)")
        let expected: [RedisReply] = [.status("OK"), .bulk(Array("v".utf8)), .integer(1), .integer(2), .integer(3)]
        #expect(replies == expected)
        #expect(error?.code == .serverError, "INCR of a non-integer: \(String(describing: error))")
        #expect(await Self.connectionThread(client) == nil, "still on a connection thread after the scope")
        try await client.send(RedisCommand("DEL", key, key + "n"))
    }

    @Test func callersWithAndWithoutAffinityGetTheirOwnReplies() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let prefix = uniquePrefix("mixed")
        @Sendable func roundTrips(_ task: Int) async throws -> Int {
            var wrong = 0
            for round in 0..<20 {
                let key = "\(prefix)\(task)"
                let value = "value-\(task)-\(round)"
                try await client.send(RedisCommand("SET", key, value))
                if try await client.send(RedisCommand("GET", key)).bytes() != Array(value.utf8) { wrong += 1 }
            }
            return wrong
        }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<40 {
                if task.isMultiple(of: 2) {
                    group.addTask { try await client.withConnectionAffinity { try await roundTrips(task) } }
                } else {
                    group.addTask { try await roundTrips(task) }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        try await client.send(RedisCommand("DEL", arguments: (0..<40).map { "\(prefix)\($0)" }))
    }

    @Test func pipelineKeepsOrderAndErrorsAsValues() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("pipeline") + "k"
        let replies = try await client.pipeline([
            RedisCommand("SET", key, "text"), RedisCommand("GET", key), RedisCommand("INCR", key), RedisCommand("DEL", key),
        ])
        #expect(replies.count == 4)
        #expect(replies[0] == .status("OK"))
        #expect(replies[1] == .bulk(Array("text".utf8)))
        guard case .error(let message) = replies[2] else { Issue.record("expected an error reply, got \(replies[2])"); return }
        #expect(message.contains("not an integer"))
        #expect(replies[3] == .integer(1))
    }

    @Test func transactionRunsAtomicallyAndReturnsExecReplies() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("multi") + "n"
        let replies = try await client.transaction([RedisCommand("INCRBY", key, 5), RedisCommand("PEXPIRE", key, 60_000), RedisCommand("GET", key)])
        #expect(replies == [.integer(5), .integer(1), .bulk(Array("5".utf8))])
        try await client.send(RedisCommand("DEL", key))
        let error = try await #require(throws: RedisError.self) { try await client.transaction([RedisCommand("NOSUCHCOMMAND")]) }
        #expect(error.code == .serverError)
    }

    @Test func scriptsFallBackToEvalAfterScriptFlush() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("script") + "k"
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        try await client.send(RedisCommand("SCRIPT", "FLUSH"))
        #expect(try await client.evaluate(script, keys: [key], arguments: [2]).integer() == 2)
        #expect(try await client.send(RedisCommand("SCRIPT", "EXISTS", script.sha1)) == .array([.integer(1)]),
                "EVAL loaded the script under the SHA-1 the client computed")
        #expect(try await client.evaluate(script, keys: [key], arguments: [3]).integer() == 5)
        try await client.send(RedisCommand("SCRIPT", "FLUSH"))
        #expect(try await client.evaluate(script, keys: [key], arguments: [4]).integer() == 9)
        try await client.send(RedisCommand("DEL", key))
    }

    @Test func sha1MatchesKnownVectors() {
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex(Array(String(repeating: "a", count: 1000).utf8)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func theURLDatabaseIsSelected() async throws {
        let server = try await RedisServer.shared()
        let five = try await makeClient(server.url(database: 5))
        let zero = try await makeClient(server.url(database: 0))
        defer { Task { await five.close(); await zero.close() } }
        let key = uniquePrefix("select") + "k"
        try await five.send(RedisCommand("SET", key, "in-five"))
        #expect(try await zero.send(RedisCommand("EXISTS", key)).integer() == 0)
        #expect(try await five.send(RedisCommand("EXISTS", key)).integer() == 1)
        try await five.send(RedisCommand("DEL", key))
    }

    @Test func everyConnectionThreadIsNamedRedisPortIndex() async throws {
        let server = try await RedisServer.shared()
        let client = try await makeClient(server.url(query: "pool_size=3"))
        defer { Task { await client.close() } }
        var names: [Int: String] = [:]
        for _ in 0..<3 {
            let (index, name) = await client.withConnectionAffinity { () async -> (Int?, String) in
                (client.connectionIndexOnCurrentThread,
                 (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
            }
            if let index { names[index] = name }
        }
        #expect(names == [0: "redis-\(server.port)-0", 1: "redis-\(server.port)-1", 2: "redis-\(server.port)-2"])
    }

    @Test func closedClientThrowsClosed() async throws {
        let client = try await makeClient()
        await client.close()
        await client.close()
        let error = try await #require(throws: RedisError.self) { try await client.send(RedisCommand("PING")) }
        #expect(error.code == .closed)
    }
}

@Suite("Redis client faults", .serialized)
struct RedisClientFaultTests {
    @Test func wrongPasswordIsAnAuthenticationErrorWithoutThePassword() async throws {
        let server = try await RedisServer.start(.init(password: "right-horse-battery"))
        defer { Task { await server.stop() } }
        let secret = "wrong-staple-9d1f"
        let error = try await #require(throws: RedisError.self) { try await makeClient(server.url(password: secret)) }
        #expect(error.code == .authenticationFailed, "\(error)")
        #expect(!error.description.contains(secret), "\(error)")
        #expect(!String(reflecting: error).contains(secret))
        let noPassword = try await #require(throws: RedisError.self) {
            try await makeClient("redis://127.0.0.1:\(server.port)/0")
        }
        #expect(noPassword.code == .authenticationFailed, "\(noPassword)")
        let client = try await makeClient(server.url())
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        await client.close()
    }

    @Test func aDatabaseTheServerLacksFailsAtConnectWithItsErrorAndNoPassword() async throws {
        let secret = "select-staple-77"
        let server = try await RedisServer.start(.init(password: secret))
        defer { Task { await server.stop() } }
        // The server keeps the default `databases 16`: 16 is out of range, 15 is not.
        let error = try await #require(throws: RedisError.self) { try await makeClient(server.url(database: 16, password: secret)) }
        #expect(error.code == .connectionFailed, "\(error)")
        #expect(error.message.contains("cannot select database 16"), "\(error)")
        #expect(error.message.contains("DB index is out of range"), "\(error)")
        #expect(!error.description.contains(secret), "\(error)")
        #expect(!String(reflecting: error).contains(secret))
        let client = try await makeClient(server.url(database: 15, password: secret))
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        await client.close()
    }

    @Test func unreachableServerFailsWithinTheConnectTimeout() async throws {
        let port = try RedisServer.freeLoopbackPort()
        let clock = ContinuousClock()
        let start = clock.now
        let error = try await #require(throws: RedisError.self) {
            try await makeClient("redis://127.0.0.1:\(port)/0?connect_timeout=500ms")
        }
        #expect(error.code == .connectionFailed, "\(error)")
        // Not a speed assertion: only that it did not hang far past the 500 ms timeout.
        #expect(clock.now - start < .seconds(10))
        // An unroutable address (TEST-NET-1) exercises the timeout itself.
        let timedOut = try await #require(throws: RedisError.self) {
            try await makeClient("redis://192.0.2.1:6379/0?connect_timeout=300ms")
        }
        #expect(timedOut.code == .connectionFailed, "\(timedOut)")
    }

    @Test func recoversBySelfAfterSIGKILLAndRestart() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        defer { Task { await server.stop() } }
        let client = try await makeClient(server.url(query: "command_timeout=1s"))
        defer { Task { await client.close() } }
        try await client.send(RedisCommand("SET", "before", "kept"))
        let stream = Task {
            var successes = 0
            var untyped: [String] = []
            for round in 0..<400 {
                do {
                    try await client.send(RedisCommand("INCR", "counter"))
                    successes += 1
                } catch {
                    if let error = error as? RedisError, connectionFaultCodes.contains(error.code) { continue }
                    untyped.append("\(error)")
                }
                if round % 20 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            }
            return (successes, untyped)
        }
        try await Task.sleep(for: .milliseconds(30))
        try await server.kill()
        try await Task.sleep(for: .milliseconds(100))
        try await server.restart()
        let (successes, unexpected) = await stream.value
        #expect(unexpected.isEmpty, "errors that are not typed connection faults: \(unexpected)")
        #expect(successes > 0)
        // The client reconnects by itself: later commands succeed, and AOF kept the data.
        let value = try await eventuallySucceeds { try await client.send(RedisCommand("GET", "before")) }
        #expect(try value.bytes() == Array("kept".utf8))
        // The pool's other connection recovers on its own schedule (fails fast while in its
        // reconnect backoff), so the next command also gets the bounded retry.
        #expect(try await eventuallySucceeds { try await client.send(RedisCommand("PING")) } == .status("PONG"))
    }

    @Test func aFrozenServerGivesATimeoutThenRecovers() async throws {
        let server = try await RedisServer.start()
        defer { Task { await server.stop() } }
        let client = try await makeClient(server.url(query: "command_timeout=300ms&pool_size=1"))
        defer { Task { await client.close() } }
        #expect(try await client.send(RedisCommand("PING")) == .status("PONG"))
        server.pause()
        let error = try await #require(throws: RedisError.self) { try await client.send(RedisCommand("PING")) }
        server.resume()
        #expect(error.code == .timeout, "\(error)")
        let reply = try await eventuallySucceeds { try await client.send(RedisCommand("PING")) }
        #expect(reply == .status("PONG"))
        // Connecting to a frozen server: the kernel accepts the TCP connection, the handshake
        // gets no answer, and the connect timeout turns that into a typed error.
        server.pause()
        let connectError = try await #require(throws: RedisError.self) {
            try await makeClient(server.url(query: "connect_timeout=300ms"))
        }
        server.resume()
        #expect(connectError.code == .timeout, "\(connectError)")
        #expect(connectError.message.contains("0.3 seconds"), "\(connectError)")
    }

    @Test func clientKillIsDetectedAndTheNextCommandReconnects() async throws {
        let client = try await makeClient(try await RedisServer.shared().url(query: "pool_size=1"))
        defer { Task { await client.close() } }
        let admin = try await makeClient()
        defer { Task { await admin.close() } }
        let id = try await client.send(RedisCommand("CLIENT", "ID")).integer()
        try await admin.send(RedisCommand("CLIENT", "KILL", "ID", id))
        // The first command may see the broken socket; either way a typed error or success.
        do {
            try await client.send(RedisCommand("PING"))
        } catch {
            #expect(connectionFaultCodes.contains(error.code), "\(error)")
        }
        #expect(try await eventuallySucceeds { try await client.send(RedisCommand("PING")) } == .status("PONG"))
    }
}
