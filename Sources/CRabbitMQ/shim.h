// rabbitmq-c (Debian librabbitmq-dev 0.11.0) for Swift. amqp_login is variadic and does not
// import into Swift, and the method-number macros are casts Swift cannot import: static
// inline wrappers and constants for them live here.
#ifndef CLUSTERKIT_CRABBITMQ_SHIM_H
#define CLUSTERKIT_CRABBITMQ_SHIM_H
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <string.h>
#include <sys/random.h>

/// amqp_login with PLAIN authentication (the variadic form takes user and password).
static inline amqp_rpc_reply_t ck_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                   int channel_max, int frame_max, int heartbeat,
                                                   const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

static const amqp_method_number_t CK_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t CK_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t CK_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t CK_BASIC_GET_OK = AMQP_BASIC_GET_OK_METHOD;
static const amqp_method_number_t CK_BASIC_GET_EMPTY = AMQP_BASIC_GET_EMPTY_METHOD;
static const amqp_method_number_t CK_BASIC_CONSUME = AMQP_BASIC_CONSUME_METHOD;
static const amqp_method_number_t CK_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t CK_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t CK_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t CK_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t CK_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t CK_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_flags_t CK_PUBLISH_FLAGS = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t CK_HEADERS_FLAG = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t CK_MESSAGE_ID_FLAG = AMQP_BASIC_MESSAGE_ID_FLAG;

/// Sends basic.consume with no-wait (no reply to read) and no-ack.
static inline int ck_basic_consume_nowait(amqp_connection_state_t state, amqp_channel_t channel,
                                          amqp_bytes_t queue, amqp_bytes_t tag) {
    amqp_basic_consume_t req;
    memset(&req, 0, sizeof(req));
    req.queue = queue;
    req.consumer_tag = tag;
    req.no_ack = 1;
    req.nowait = 1;
    req.arguments = amqp_empty_table;
    return amqp_send_method(state, channel, AMQP_BASIC_CONSUME_METHOD, &req);
}

/// Sends basic.cancel with no-wait.
static inline int ck_basic_cancel_nowait(amqp_connection_state_t state, amqp_channel_t channel, amqp_bytes_t tag) {
    amqp_basic_cancel_t req;
    req.consumer_tag = tag;
    req.nowait = 1;
    return amqp_send_method(state, channel, AMQP_BASIC_CANCEL_METHOD, &req);
}

/// Answers a broker's channel.close so the channel number can be reopened.
static inline int ck_channel_close_ok(amqp_connection_state_t state, amqp_channel_t channel) {
    amqp_channel_close_ok_t ok;
    ok.dummy = 0;
    return amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
}

/// Answers a broker's connection.close.
static inline int ck_connection_close_ok(amqp_connection_state_t state) {
    amqp_connection_close_ok_t ok;
    ok.dummy = 0;
    return amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
}
/// Fills `buffer` with `length` (at most 256) random bytes in one getrandom(2) call (the
/// <sys/random.h> declaration is not in Swift's Glibc module); returns how many it filled,
/// or -1.
static inline ssize_t ck_random_bytes(void *buffer, size_t length) {
    return getrandom(buffer, length, 0);
}
#endif
