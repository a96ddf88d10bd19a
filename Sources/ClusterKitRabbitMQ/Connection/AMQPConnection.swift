import CRabbitMQ
import ClusterKit
import Glibc

/// One rabbitmq-c connection: blocking calls, no thread safety. It is owned by exactly one
/// actor running on a ``DedicatedThreadExecutor`` and never leaves it; it is not `Sendable`.
///
/// Any socket-level failure marks it ``isBroken``: the owner then discards it and connects
/// again. A channel closed by the broker is reopened on its next use.
final class AMQPConnection {
    private let state: amqp_connection_state_t
    private let endpoint: String
    private var openChannels: Set<UInt16> = []
    /// The C memory every publish's header table is built in.
    private let publishScratch = AMQPPublishScratch()
    private var closed = false
    /// Set when the connection can no longer be used.
    private(set) var isBroken = false

    /// Connects, logs in and opens channel 1.
    ///
    /// - Parameters:
    ///   - connectTimeout: bounds the TCP connect and the AMQP handshake.
    ///   - heartbeat: seconds between heartbeats (0 = off); a silent peer is detected after
    ///     twice that while the owner waits for frames.
    ///   - rpcTimeout: bounds every later synchronous call (declare, get, …).
    init(url: AMQPURL, connectTimeout: Duration, heartbeat: Int, rpcTimeout: Duration) throws(RabbitMQError) {
        endpoint = "\(url.host):\(url.port)"
        let where_ = "RabbitMQ at \(url.description)"
        guard let state = amqp_new_connection() else {
            throw RabbitMQError(code: .connectionFailed, message: "could not allocate a connection to \(where_)")
        }
        self.state = state
        // From here on a throw runs deinit, which destroys the state: mark it unusable only.
        isBroken = true
        guard let socket = amqp_tcp_socket_new(state) else {
            throw RabbitMQError(code: .connectionFailed, message: "could not create a socket for \(where_)")
        }
        var connectTV = timeval(duration: connectTimeout)
        let status = amqp_socket_open_noblock(socket, url.host, Int32(clamping: url.port), &connectTV)
        guard status == AMQP_STATUS_OK.rawValue else {
            let reason = String(cString: amqp_error_string2(status))
            throw RabbitMQError(code: .connectionFailed, message: "could not connect to \(where_) within \(connectTimeout): \(reason)")
        }
        var handshakeTV = timeval(duration: connectTimeout)
        amqp_set_handshake_timeout(state, &handshakeTV)
        var rpcTV = timeval(duration: rpcTimeout)
        amqp_set_rpc_timeout(state, &rpcTV)
        let reply = ck_amqp_login_plain(state, url.virtualHost, 0, 131_072, Int32(clamping: heartbeat), url.username, url.password)
        if let error = AMQPConnection.loginError(reply, where_: where_, vhost: url.virtualHost, user: url.username, timeout: connectTimeout) {
            throw error
        }
        isBroken = false
        try openChannel(1)
    }

    deinit {
        close()
        amqp_destroy_connection(state)
    }

    /// Closes the connection politely when it is healthy; idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        if !isBroken {
            _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        }
        isBroken = true
    }

    // MARK: Channels

    /// Whether `channel` is open (a broker channel.close closes it; it reopens on next use).
    func isChannelOpen(_ channel: UInt16) -> Bool { openChannels.contains(channel) }

    func openChannel(_ channel: UInt16) throws(RabbitMQError) {
        guard !openChannels.contains(channel) else { return }
        _ = amqp_channel_open(state, channel)
        try check(amqp_get_rpc_reply(state), "open channel \(channel)", channel: channel)
        openChannels.insert(channel)
    }

    // MARK: Topology

    /// Declares a durable queue (idempotent with the same arguments); returns its ready
    /// message count and consumer count.
    @discardableResult
    func declareQueue(_ channel: UInt16, _ name: String, arguments: [(String, AMQPFieldValue)] = [], passive: Bool = false) throws(RabbitMQError) -> (messages: Int, consumers: Int) {
        try openChannel(channel)
        let arena = AMQPArena()
        let ok = amqp_queue_declare(state, channel, arena.bytes(name), passive ? 1 : 0, 1, 0, 0, arena.table(arguments))
        guard let ok else {
            try check(amqp_get_rpc_reply(state), "declare queue \(name)", channel: channel)
            throw protocolError("declare queue \(name) returned nothing")
        }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    func declareExchange(_ channel: UInt16, _ name: String, type: String) throws(RabbitMQError) {
        try openChannel(channel)
        let arena = AMQPArena()
        if amqp_exchange_declare(state, channel, arena.bytes(name), arena.bytes(type), 0, 1, 0, 0, amqp_empty_table) == nil {
            try check(amqp_get_rpc_reply(state), "declare exchange \(name)", channel: channel)
        }
    }

    func bindQueue(_ channel: UInt16, queue: String, exchange: String, key: String) throws(RabbitMQError) {
        try openChannel(channel)
        let arena = AMQPArena()
        if amqp_queue_bind(state, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(key), amqp_empty_table) == nil {
            try check(amqp_get_rpc_reply(state), "bind queue \(queue)", channel: channel)
        }
    }

    func bindExchange(_ channel: UInt16, destination: String, source: String, key: String) throws(RabbitMQError) {
        try openChannel(channel)
        let arena = AMQPArena()
        if amqp_exchange_bind(state, channel, arena.bytes(destination), arena.bytes(source), arena.bytes(key), amqp_empty_table) == nil {
            try check(amqp_get_rpc_reply(state), "bind exchange \(destination)", channel: channel)
        }
    }

    /// Removes the ready messages of a queue; returns how many.
    func purge(_ channel: UInt16, _ queue: String) throws(RabbitMQError) -> Int {
        try openChannel(channel)
        let arena = AMQPArena()
        guard let ok = amqp_queue_purge(state, channel, arena.bytes(queue)) else {
            try check(amqp_get_rpc_reply(state), "purge \(queue)", channel: channel)
            throw protocolError("purge returned nothing")
        }
        return Int(ok.pointee.message_count)
    }

    func confirmSelect(_ channel: UInt16) throws(RabbitMQError) {
        try openChannel(channel)
        if amqp_confirm_select(state, channel) == nil {
            try check(amqp_get_rpc_reply(state), "enable publisher confirms", channel: channel)
        }
    }

    func qos(_ channel: UInt16, prefetch: Int) throws(RabbitMQError) {
        try openChannel(channel)
        if amqp_basic_qos(state, channel, 0, UInt16(clamping: prefetch), 0) == nil {
            try check(amqp_get_rpc_reply(state), "set prefetch", channel: channel)
        }
    }

    // MARK: Messages

    /// Sends a persistent message (delivery mode 2). Does not wait for its confirm. Nothing
    /// is allocated for it: the strings are passed in place and the header table is laid
    /// out in ``publishScratch``.
    func publish(_ channel: UInt16, _ message: AMQPOutgoing) throws(RabbitMQError) {
        if !openChannels.contains(channel) { try openChannel(channel) }
        var properties = amqp_basic_properties_t()
        properties._flags = CK_PUBLISH_FLAGS
        properties.delivery_mode = 2
        properties.headers = publishScratch.table(message.headers)
        var (messageID, exchange, routingKey) = (message.messageID, message.exchange, message.routingKey)
        let state = state
        let mandatory: amqp_boolean_t = message.mandatory ? 1 : 0
        let status = messageID.withUTF8 { id in
            exchange.withUTF8 { exchange in
                routingKey.withUTF8 { routingKey in
                    message.body.withUnsafeBytes { body in
                        properties.message_id = amqp_bytes_t(id)
                        return amqp_basic_publish(state, channel, amqp_bytes_t(exchange), amqp_bytes_t(routingKey), mandatory, 0, &properties,
                                                  amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
                    }
                }
            }
        }
        try checkStatus(status, "publish")
    }

    /// basic.get without auto-ack: the message stays unacknowledged on `channel` until
    /// acked, nacked, or the channel/connection closes (then the broker requeues it).
    func get(_ channel: UInt16, _ queue: String) throws(RabbitMQError) -> AMQPIncoming? {
        try openChannel(channel)
        let arena = AMQPArena()
        let reply = amqp_basic_get(state, channel, arena.bytes(queue), 0)
        try check(reply, "get from \(queue)", channel: channel)
        guard reply.reply.id == CK_BASIC_GET_OK, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        var incoming = try readContent(channel)
        incoming.deliveryTag = ok.delivery_tag
        incoming.redelivered = ok.redelivered != 0
        return incoming
    }

    /// Reads the header and body frames that follow a basic.get-ok/deliver/return.
    func readContent(_ channel: UInt16) throws(RabbitMQError) -> AMQPIncoming {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        try check(reply, "read a message", channel: channel)
        defer { amqp_destroy_message(&message) }
        let flags = message.properties._flags
        let headers = flags & CK_HEADERS_FLAG != 0 ? message.properties.headers.fields : [:]
        let id = flags & CK_MESSAGE_ID_FLAG != 0 ? message.properties.message_id.string : ""
        return AMQPIncoming(deliveryTag: 0, redelivered: false, messageID: id, headers: headers, body: message.body.array)
    }

    func ack(_ channel: UInt16, tag: UInt64, multiple: Bool = false) throws(RabbitMQError) {
        try checkStatus(amqp_basic_ack(state, channel, tag, multiple ? 1 : 0), "ack")
    }

    func nack(_ channel: UInt16, tag: UInt64, multiple: Bool = false, requeue: Bool) throws(RabbitMQError) {
        try checkStatus(amqp_basic_nack(state, channel, tag, multiple ? 1 : 0, requeue ? 1 : 0), "nack")
    }

    /// basic.consume with manual acknowledgements, waiting for consume-ok. Deliveries then
    /// arrive as basic.deliver frames on `channel` (read them with ``waitFrame(timeout:)``
    /// and ``readContent(_:)``).
    func consume(_ channel: UInt16, queue: String, tag: String) throws(RabbitMQError) {
        try openChannel(channel)
        let arena = AMQPArena()
        if amqp_basic_consume(state, channel, arena.bytes(queue), arena.bytes(tag), 0, 0, 0, amqp_empty_table) == nil {
            try check(amqp_get_rpc_reply(state), "consume \(queue)", channel: channel)
        }
    }

    /// basic.cancel, waiting for cancel-ok. Deliveries the broker sent before it are queued
    /// by rabbitmq-c and still come out of ``waitFrame(timeout:)``.
    func cancel(_ channel: UInt16, tag: String) throws(RabbitMQError) {
        let arena = AMQPArena()
        if amqp_basic_cancel(state, channel, arena.bytes(tag)) == nil {
            try check(amqp_get_rpc_reply(state), "cancel consumer \(tag)", channel: channel)
        }
    }

    /// basic.consume with no-wait and no-ack.
    func consumeNoWait(_ channel: UInt16, queue: String, tag: String) throws(RabbitMQError) {
        try openChannel(channel)
        let arena = AMQPArena()
        try checkStatus(ck_basic_consume_nowait(state, channel, arena.bytes(queue), arena.bytes(tag)), "consume")
    }

    func cancelNoWait(_ channel: UInt16, tag: String) throws(RabbitMQError) {
        let arena = AMQPArena()
        try checkStatus(ck_basic_cancel_nowait(state, channel, arena.bytes(tag)), "cancel")
    }

    // MARK: Frames

    /// Waits up to `timeout` for one frame (sending heartbeats meanwhile); `nil` when none
    /// came. Missed heartbeats or a closed socket throw ``RabbitMQError/Code/connectionLost``.
    /// The frame's decoded parts stay valid until ``releaseBuffers()``.
    ///
    /// A non-zero `timeout` is rounded up to whole milliseconds (the granularity of the
    /// `poll` inside rabbitmq-c), so that it really blocks: rabbitmq-c truncates the time
    /// left to whole milliseconds, which turned a 1 ms wait into `poll(…, 0)` and the
    /// publisher's pump into a busy loop of `recv` + `poll` (≈ 60 system calls per
    /// published message). `.zero` still only looks at what has arrived.
    func waitFrame(timeout: Duration) throws(RabbitMQError) -> amqp_frame_t? {
        var frame = amqp_frame_t()
        var tv = timeval(duration: Self.pollableTimeout(timeout))
        let status = amqp_simple_wait_frame_noblock(state, &frame, &tv)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        try checkStatus(status, "wait for a frame")
        return frame
    }

    /// `timeout` rounded up to whole milliseconds, plus 999 µs: rabbitmq-c polls for
    /// `(deadline - now) / 1 ms` milliseconds (truncated), so this makes its first `poll`
    /// last the rounded-up milliseconds (and never 0 for a non-zero `timeout`).
    static func pollableTimeout(_ timeout: Duration) -> Duration {
        guard timeout > .zero else { return .zero }
        let (seconds, attoseconds) = timeout.components
        let milliseconds = seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return .milliseconds(milliseconds) + .microseconds(999)
    }

    /// Whether frames are already buffered (a wait would return at once).
    var hasBufferedFrames: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    /// Handles a broker's connection.close or channel.close frame: answers it and throws the
    /// matching error. Other frames are ignored.
    func handleCloseFrame(_ frame: amqp_frame_t) throws(RabbitMQError) {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return }
        let method = frame.payload.method
        if method.id == CK_CONNECTION_CLOSE, let decoded = method.decoded {
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            _ = ck_connection_close_ok(state)
            isBroken = true
            throw RabbitMQError(code: .connectionLost, message: "the broker at \(endpoint) closed the connection: \(close.reply_text.string)",
                                replyCode: Int(close.reply_code))
        }
        if method.id == CK_CHANNEL_CLOSE, let decoded = method.decoded {
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            _ = ck_channel_close_ok(state, frame.channel)
            openChannels.remove(frame.channel)
            throw RabbitMQError(code: .channelClosed, message: "the broker closed channel \(frame.channel): \(close.reply_text.string)",
                                replyCode: Int(close.reply_code))
        }
    }

    func releaseBuffers() {
        amqp_maybe_release_buffers(state)
    }

    // MARK: Errors

    private func checkStatus(_ status: Int32, _ what: String) throws(RabbitMQError) {
        guard status != AMQP_STATUS_OK.rawValue else { return }
        isBroken = true
        let reason = String(cString: amqp_error_string2(status))
        throw RabbitMQError(code: .connectionLost, message: "\(what) on the connection to \(endpoint) failed: \(reason)")
    }

    private func check(_ reply: amqp_rpc_reply_t, _ what: String, channel: UInt16) throws(RabbitMQError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == CK_CONNECTION_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                _ = ck_connection_close_ok(state)
                isBroken = true
                throw RabbitMQError(code: .connectionLost, message: "\(what): the broker at \(endpoint) closed the connection: \(close.reply_text.string)",
                                    replyCode: Int(close.reply_code))
            }
            if reply.reply.id == CK_CHANNEL_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                _ = ck_channel_close_ok(state, channel)
                openChannels.remove(channel)
                throw RabbitMQError(code: .channelClosed, message: "\(what): the broker closed the channel: \(close.reply_text.string)",
                                    replyCode: Int(close.reply_code))
            }
            isBroken = true
            throw protocolError("\(what): unexpected broker method \(reply.reply.id)")
        default:
            isBroken = true
            let reason = String(cString: amqp_error_string2(reply.library_error))
            throw RabbitMQError(code: .connectionLost, message: "\(what) on the connection to \(endpoint) failed: \(reason)")
        }
    }

    private func protocolError(_ text: String) -> RabbitMQError {
        isBroken = true
        return RabbitMQError(code: .connectionLost, message: text)
    }

    /// Maps a failed login to a typed error; `nil` when it succeeded.
    private static func loginError(_ reply: amqp_rpc_reply_t, where_: String, vhost: String, user: String, timeout: Duration) -> RabbitMQError? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return nil
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            var code = 0
            var text = "refused"
            if reply.reply.id == CK_CONNECTION_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                code = Int(close.reply_code)
                text = close.reply_text.string
            }
            switch code {
            case 403 where text.contains("vhost") || text.contains("virtual host"):
                return RabbitMQError(code: .unknownVirtualHost, message: "user '\(user)' may not use virtual host '\(vhost)' on \(where_): \(text)", replyCode: code)
            case 403:
                return RabbitMQError(code: .authenticationFailed, message: "login as '\(user)' refused by \(where_) (wrong user name or password)", replyCode: code)
            case 530:
                return RabbitMQError(code: .unknownVirtualHost, message: "virtual host '\(vhost)' is not available on \(where_): \(text)", replyCode: code)
            default:
                return RabbitMQError(code: .connectionFailed, message: "\(where_) refused the connection: \(text)", replyCode: code)
            }
        default:
            let status = reply.library_error
            let reason = String(cString: amqp_error_string2(status))
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                // RabbitMQ drops the socket on a failed PLAIN login when the client did not
                // ask for an authentication_failure_close.
                return RabbitMQError(code: .authenticationFailed, message: "login as '\(user)' refused by \(where_) (wrong user name or password): \(reason)")
            }
            return RabbitMQError(code: .connectionFailed, message: "could not log in to \(where_) within \(timeout): \(reason)")
        }
    }
}

/// A message to publish.
struct AMQPOutgoing: Sendable {
    var exchange: String
    var routingKey: String
    var mandatory: Bool
    var messageID: String
    var headers: [(String, AMQPFieldValue)]
    var body: [UInt8]
}

/// A message read from the broker.
struct AMQPIncoming: Sendable {
    var deliveryTag: UInt64
    var redelivered: Bool
    var messageID: String
    var headers: [String: AMQPFieldValue]
    var body: [UInt8]
}

extension amqp_bytes_t {
    /// The bytes of `buffer`, in place (valid while the buffer is).
    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.init(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
    }
}

extension timeval {
    init(duration: Duration) {
        let clamped = max(duration, .zero)
        let (seconds, attoseconds) = clamped.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
