import CRabbitMQRawLoop
import ClusterKit

/// The raw rabbitmq-c reference loop (C target `CRabbitMQRawLoop`), each call on a thread
/// of its own: the loops block for the whole measurement.
struct RawRabbitMQLoop: Sendable {
    var url: AMQPURL
    /// Bound on connecting and on every wait for a frame.
    var timeoutSeconds: Int32 = 30

    /// rabbitmq-c's version, e.g. `0.11.0`.
    static var libraryVersion: String { String(cString: ck_raw_library_version()) }

    struct Outcome: Sendable {
        var seconds: Double
        /// Nacked messages (publish), handled messages (consume), purged messages (purge).
        var count: Int
        var serverVersion: String
    }

    /// `count` persistent messages of `size` bytes with at most `window` unconfirmed.
    /// `passive`: the queue exists already (declared by the adapter, with arguments).
    /// `adapterProperties`: each message also carries what the adapter sends with default
    /// options: a message ID, the `x-ck-published-ms` header and the `mandatory` flag
    /// (`ck_raw_publish_with_adapter_properties`).
    func publish(queue: String, passive: Bool = false, count: Int, window: Int, size: Int, adapterProperties: Bool = false) async throws -> Outcome {
        try await call(queue, passive: passive) { target, result in
            adapterProperties ? ck_raw_publish_with_adapter_properties(target, count, window, size, result)
                              : ck_raw_publish(target, count, window, size, result)
        }
    }

    /// `count` messages with `basic.qos` `prefetch`, one `basic.ack multiple` every `ackEvery`.
    func consume(queue: String, count: Int, prefetch: Int, ackEvery: Int) async throws -> Outcome {
        try await call(queue) { target, result in ck_raw_consume(target, count, Int32(prefetch), ackEvery, result) }
    }

    @discardableResult
    func purge(queue: String) async throws -> Outcome {
        try await call(queue) { target, result in ck_raw_purge(target, result) }
    }

    private func call(_ queue: String, passive: Bool = false,
                      _ body: @escaping @Sendable (UnsafePointer<ck_raw_target>, UnsafeMutablePointer<ck_raw_result>) -> Int32) async throws -> Outcome {
        let url = url
        let timeout = timeoutSeconds
        let (status, outcome, error) = await OffPoolThread.run { () -> (Int32, Outcome, String) in
            url.host.withCString { host in
                url.username.withCString { user in
                    url.password.withCString { password in
                        url.virtualHost.withCString { vhost in
                            queue.withCString { queueName in
                                var target = ck_raw_target(host: host, port: Int32(url.port), user: user, password: password,
                                                           vhost: vhost, queue: queueName, passive: passive ? 1 : 0,
                                                           timeout_seconds: timeout)
                                var result = ck_raw_result()
                                let status = body(&target, &result)
                                let version = withUnsafeBytes(of: result.server_version) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                                let error = withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                                return (status, Outcome(seconds: result.seconds, count: result.count, serverVersion: version), error)
                            }
                        }
                    }
                }
            }
        }
        guard status == 0 else {
            // The C side never sees more than host/port/vhost in its messages; redact anyway.
            throw BenchError("raw rabbitmq-c loop: \(Redaction.redactingURLPasswords(in: error))")
        }
        return outcome
    }
}
