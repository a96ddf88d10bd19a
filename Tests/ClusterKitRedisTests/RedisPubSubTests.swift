import ClusterKit
import ClusterKitConformance
@testable import ClusterKitRedis
import ClusterKitRedisTesting
import Synchronization
import Testing

extension RedisTargets {
    /// Pub/sub nodes on `url` (the shared server by default), each with its own clients.
    static func pubsub(url: String? = nil, configuration: RedisPubSub.Configuration = .init()) -> ConformanceTarget<any PubSub> {
        ConformanceTarget(label: "redis", capabilities: ["durable"]) { options in
            let text: String
            if let url { text = url } else { text = try await RedisServer.shared().url() }
            return try await RedisPubSub.connect(try RedisURL(parsing: text), appName: options.appName, nodeID: options.nodeID,
                                                 configuration: configuration)
        }
    }
}

@Suite("Redis pub/sub conformance", .serialized)
struct RedisPubSubConformanceTests {
    @Test(arguments: PubSubConformance.suite.caseNames)
    func redisPubSubPasses(_ caseName: String) async {
        expectPassed(await PubSubConformance.suite.run(caseNamed: caseName, against: RedisTargets.pubsub()))
    }
}

/// What a receiver got, in order.
private final class Received: Sendable {
    private let state = Mutex<[String]>([])
    func append(_ text: String) { state.withLock { $0.append(text) } }
    var all: [String] { state.withLock { $0 } }
}

@Suite("Redis pub/sub: durability and multiplexing", .serialized)
struct RedisPubSubProofTests {
    /// The durable proof: a redis-server with AOF (`appendfsync always`) is SIGKILLed and
    /// restarted while a publisher keeps publishing; every message whose publish returned is
    /// delivered exactly once, in order, to every subscriber node.
    @Test func messagesSurviveSIGKILLAndRestartExactlyOnceInOrder() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        defer { Task { await server.stop() } }
        let url = try RedisURL(parsing: server.url(query: "command_timeout=1s"))
        let appName = "durable\(UInt32.random(in: 0 ... .max))"
        let configuration = RedisPubSub.Configuration(blockTime: .milliseconds(200), publishRetryTimeout: .seconds(3))
        let publisher = try await RedisPubSub.connect(url, appName: appName, configuration: configuration)
        // The second subscriber's reader reconnects only 600 ms after its first failed
        // attempt, so the publisher is back well before it: what is published meanwhile
        // must come from resuming at the last delivered ID, not from reading live.
        var slowReader = RedisPubSub.readerConfiguration(for: RedisClientConfiguration(url: url), blockTime: configuration.blockTime)
        slowReader.reconnectBackoff = Backoff(initial: .milliseconds(600), multiplier: 1, maximum: .milliseconds(600), jitter: 0)
        let slowSubscriber = RedisPubSub(client: try await RedisClient.connect(RedisClientConfiguration(url: url)),
                                         readerClient: try await RedisClient.connect(slowReader), appName: appName,
                                         configuration: configuration)
        let subscribers = [try await RedisPubSub.connect(url, appName: appName, configuration: configuration), slowSubscriber]
        defer { Task { await publisher.close(); for node in subscribers { await node.close() } } }
        var readers: [(Received, Task<Void, Never>)] = []
        for node in subscribers {
            let subscription = try await node.subscribe("signals")
            let received = Received()
            readers.append((received, Task { for await message in subscription { received.append(message.text) } }))
        }
        // Each attempt publishes a distinct payload, so an attempt whose outcome was unknown
        // (it threw, yet may be in the stream) can never pass for a confirmed one.
        let stop = Atomic<Bool>(false)
        let confirmedCount = Atomic<Int>(0)
        let publishing = Task {
            var confirmed: [String] = []
            var unexpected: [String] = []
            var attempts = 0
            var sequence = 0
            while !stop.load(ordering: .acquiring) {
                attempts += 1
                let payload = "m\(sequence)-a\(attempts)"
                do {
                    try await publisher.publish("signals", payload)
                    confirmed.append(payload)
                    confirmedCount.store(confirmed.count, ordering: .releasing)
                    sequence += 1
                } catch let error as PubSubError where error.code == .backend {
                    try? await Task.sleep(for: .milliseconds(10))
                } catch {
                    unexpected.append("\(error)")
                    break
                }
                if sequence % 20 == 0 { try? await Task.sleep(for: .milliseconds(2)) }
            }
            return (confirmed, unexpected, attempts)
        }
        try await eventuallySucceeds { if confirmedCount.load(ordering: .acquiring) < 100 { throw NotYet("publisher warming up") } }
        try await server.kill()
        let beforeRestart = confirmedCount.load(ordering: .acquiring)
        try await Task.sleep(for: .milliseconds(300))
        try await server.restart()
        // Keep publishing well past the restart.
        try await eventuallySucceeds(within: .seconds(20)) {
            if confirmedCount.load(ordering: .acquiring) < beforeRestart + 200 { throw NotYet("publisher not resumed") }
        }
        stop.store(true, ordering: .releasing)
        let (confirmed, unexpected, attempts) = await publishing.value
        #expect(unexpected.isEmpty, "errors other than PubSubError.backend: \(unexpected)")
        #expect(beforeRestart >= 100 && confirmed.count >= beforeRestart + 200)
        let confirmedSet = Set(confirmed)
        for (index, (received, task)) in readers.enumerated() {
            try await eventuallySucceeds(within: .seconds(15)) {
                if !confirmedSet.isSubset(of: Set(received.all)) { throw NotYet("subscriber \(index) still missing messages") }
            }
            let all = received.all
            // Exactly once: no payload twice. In order: the confirmed ones in publish order.
            #expect(Set(all).count == all.count, "subscriber \(index) got duplicates")
            let confirmedReceived = all.filter { confirmedSet.contains($0) }
            #expect(confirmedReceived == confirmed, "subscriber \(index): confirmed messages out of order or missing")
            // Anything else is an attempt whose publish threw but reached the stream.
            #expect(all.count - confirmedReceived.count <= attempts - confirmed.count)
            task.cancel()
        }
    }

    /// A subscriber whose connection is killed by the server (`CLIENT KILL`) keeps its
    /// position: what was published meanwhile arrives once, in order.
    @Test func readerConnectionKilledResumesFromLastID() async throws {
        let url = try RedisURL(parsing: try await RedisServer.shared().url())
        let appName = "resume\(UInt32.random(in: 0 ... .max))"
        let configuration = RedisPubSub.Configuration(blockTime: .milliseconds(100))
        let publisher = try await RedisPubSub.connect(url, appName: appName, configuration: configuration)
        let subscriber = try await RedisPubSub.connect(url, appName: appName, configuration: configuration)
        defer { Task { await publisher.close(); await subscriber.close() } }
        let receiver = PubSubReceiver(try await subscriber.subscribe("c"), label: "subscriber")
        defer { receiver.stop() }
        let admin = try await makeClient()
        defer { Task { await admin.close() } }
        var killed: Set<Int64> = []
        for round in 0..<5 {
            for index in 0..<20 { try await publisher.publish("c", "r\(round)-\(index)") }
            // Kill the subscriber's reader connection once it is (again) connected.
            let id = try await eventuallySucceeds { () throws -> Int64 in
                guard let id = subscriber.readerConnectionID, !killed.contains(id) else { throw NotYet("reader not reconnected") }
                return id
            }
            killed.insert(id)
            #expect(try await admin.send(RedisCommand("CLIENT", "KILL", "ID", id)).integer() == 1)
        }
        let expected = (0..<5).flatMap { round in (0..<20).map { "r\(round)-\($0)" } }
        try await eventuallySucceeds(within: .seconds(10)) {
            try await publisher.publish("c", "probe")
            if !receiver.texts.contains("probe") { throw NotYet("not yet resumed") }
        }
        let texts = receiver.texts.filter { $0 != "probe" }
        #expect(texts == expected, "\(receiver.summary)")
    }

    /// Many channels of one node share one reader connection, and adding a channel does not
    /// disturb the positions of the others.
    @Test func oneReaderConnectionForManyChannels() async throws {
        let server = try await RedisServer.start()
        defer { Task { await server.stop() } }
        let url = try RedisURL(parsing: server.url())
        let node = try await RedisPubSub.connect(url, appName: "multi")
        defer { Task { await node.close() } }
        let admin = try await makeClient(server.url())
        defer { Task { await admin.close() } }
        let before = try await connectedClients(admin)
        var receivers: [PubSubReceiver] = []
        for index in 0..<25 {
            receivers.append(PubSubReceiver(try await node.subscribe("ch\(index)"), label: "ch\(index)"))
            try await node.publish("ch0", "after-\(index)")
        }
        defer { for receiver in receivers { receiver.stop() } }
        for index in 0..<25 { try await node.publish("ch\(index)", "hello-\(index)") }
        for (index, receiver) in receivers.enumerated() {
            try await receiver.waitFor(text: "hello-\(index)")
        }
        #expect(receivers[0].texts == (0..<25).map { "after-\($0)" } + ["hello-0"])
        #expect(try await connectedClients(admin) == before, "subscribing opened connections")
    }

    @Test func publishToAnUnreachableServerThrowsTypedError() async throws {
        let server = try await RedisServer.start()
        let url = try RedisURL(parsing: server.url())
        let node = try await RedisPubSub.connect(url, appName: "down", configuration: .init(publishRetryTimeout: .milliseconds(300)))
        defer { Task { await node.close() } }
        await server.stop()
        let error = await #expect(throws: PubSubError.self) { try await node.publish("c", "lost?") }
        #expect(error?.code == .backend)
    }

    /// The check a publish retry makes after a broken connection: is my entry there?
    @Test func publishTokenLookupFindsOnlyAddedEntries() async throws {
        let client = try await makeClient()
        defer { Task { await client.close() } }
        let key = uniquePrefix("token") + "stream"
        let envelope = PubSubEnvelope(channel: "c", payload: [0, 1, 2], publisherID: NodeID("n1"))
        let added = RedisPubSubEntry.newToken()
        try await client.send(RedisCommand("XADD", arguments: [key, "*"] + RedisPubSubEntry.fields(envelope, token: added)))
        for _ in 0..<5 {
            try await client.send(RedisCommand("XADD", arguments: [key, "*"] + RedisPubSubEntry.fields(envelope, token: RedisPubSubEntry.newToken())))
        }
        func contains(_ token: String, within count: Int) async throws -> Bool {
            try await client.evaluate(RedisPubSubEntry.containsToken, keys: [key], arguments: [token, count]).integer() == 1
        }
        #expect(try await contains(added, within: 100))
        #expect(try await !contains(RedisPubSubEntry.newToken(), within: 100))
        #expect(try await !contains(added, within: 5), "only the newest entries are searched")
    }

    @Test func registryBuildsTheDurableRedisAdapter() async throws {
        var registry = AdapterRegistry()
        registry.registerRedisAdapters()
        let registration = try registry.registration(for: .pubsub, named: "redis", variable: "PUBSUB_ADAPTER")
        #expect(registration.capabilities == ["durable"])
        #expect(registration.isNetworked)
    }

    private func connectedClients(_ admin: RedisClient) async throws -> Int {
        let info = String(decoding: try await admin.send(RedisCommand("INFO", "clients")).bytes() ?? [], as: UTF8.self)
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("connected_clients:") } ?? ""
        return Int(line.dropFirst("connected_clients:".count)) ?? -1
    }
}

/// "Not there yet", for ``eventuallySucceeds(within:_:)``.
private struct NotYet: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

@Suite("Redis pub/sub: publishing through an outage", .serialized)
struct RedisPubSubOutageTests {
    /// A publish issued while the server is down waits for it (within the retry bound) and
    /// then returns; the message is delivered once.
    @Test func publishDuringOutageRetriesUntilTheServerIsBack() async throws {
        let server = try await RedisServer.start(.init(appendOnly: true))
        defer { Task { await server.stop() } }
        let url = try RedisURL(parsing: server.url(query: "command_timeout=1s"))
        let configuration = RedisPubSub.Configuration(blockTime: .milliseconds(100), publishRetryTimeout: .seconds(10))
        let publisher = try await RedisPubSub.connect(url, appName: "outage", configuration: configuration)
        let subscriber = try await RedisPubSub.connect(url, appName: "outage", configuration: configuration)
        defer { Task { await publisher.close(); await subscriber.close() } }
        let receiver = PubSubReceiver(try await subscriber.subscribe("c"), label: "subscriber")
        defer { receiver.stop() }
        try await publisher.publish("c", "before")
        try await receiver.waitFor(text: "before")
        try await server.kill()
        // The first command after the loss finds the connection gone; from then on the
        // client knows it is down and nothing is sent until it reconnects.
        let duringOutage = Task { try await publisher.publish("c", "during") }
        try await Task.sleep(for: .milliseconds(400))
        try await server.restart()
        try await duringOutage.value
        try await publisher.publish("c", "after")
        try await receiver.waitFor(text: "after", timeout: .seconds(10))
        #expect(receiver.texts == ["before", "during", "after"], "\(receiver.summary)")
    }
}
