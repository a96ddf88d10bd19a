// See include/rabbitmq_raw_loop.h. Ported from benchmarks/rabbitmq-raw.c (the baseline of
// the earlier scripts/bench-rabbitmq.sh): same protocol work, but errors are returned
// instead of exiting, and every wait is bounded.
#include "rabbitmq_raw_loop.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(ck_raw_result *result, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(result->error, sizeof result->error, format, args);
    va_end(args);
    return -1;
}

static int check_reply(amqp_rpc_reply_t reply, const char *what, ck_raw_result *result) {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return fail(result, "%s: %s", what, amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD || reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            // Both close methods start with reply_code and reply_text.
            amqp_connection_close_t *close = reply.reply.decoded;
            return fail(result, "%s: broker closed with %u %.*s", what, close->reply_code,
                        (int)close->reply_text.len, (const char *)close->reply_text.bytes);
        }
        return fail(result, "%s: broker exception (method 0x%08x)", what, reply.reply.id);
    default:
        return fail(result, "%s: no reply", what);
    }
}

static int check_status(int status, const char *what, ck_raw_result *result) {
    return status == AMQP_STATUS_OK ? 0 : fail(result, "%s: %s", what, amqp_error_string2(status));
}

static void copy_server_version(amqp_connection_state_t conn, ck_raw_result *result) {
    amqp_table_t *properties = amqp_get_server_properties(conn);
    for (int i = 0; properties && i < properties->num_entries; i++) {
        amqp_table_entry_t *entry = &properties->entries[i];
        if (entry->key.len == 7 && memcmp(entry->key.bytes, "version", 7) == 0 && entry->value.kind == AMQP_FIELD_KIND_UTF8) {
            amqp_bytes_t value = entry->value.value.bytes;
            size_t length = value.len < sizeof result->server_version - 1 ? value.len : sizeof result->server_version - 1;
            memcpy(result->server_version, value.bytes, length);
            result->server_version[length] = 0;
        }
    }
}

/// Opens a connection with channel 1 and the queue declared (see `passive`); NULL on error.
static amqp_connection_state_t open_connection(const ck_raw_target *target, ck_raw_result *result) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket) {
        fail(result, "cannot create a socket");
        amqp_destroy_connection(conn);
        return NULL;
    }
    struct timeval timeout = {.tv_sec = target->timeout_seconds, .tv_usec = 0};
    if (check_status(amqp_socket_open_noblock(socket, target->host, target->port, &timeout), "connect", result) != 0 ||
        amqp_set_rpc_timeout(conn, &timeout) != AMQP_STATUS_OK ||
        check_reply(amqp_login(conn, target->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, target->user, target->password), "login", result) != 0) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    copy_server_version(conn, result);
    amqp_channel_open(conn, 1);
    if (check_reply(amqp_get_rpc_reply(conn), "channel.open", result) != 0) goto broken;
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(target->queue), target->passive ? 1 : 0, 1, 0, 0, amqp_empty_table);
    if (check_reply(amqp_get_rpc_reply(conn), "queue.declare", result) != 0) goto broken;
    return conn;
broken:
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return NULL;
}

static void close_connection(amqp_connection_state_t conn) {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static int publish_loop(amqp_connection_state_t conn, const ck_raw_target *target, long count, long window, size_t size,
                        int adapter_properties, ck_raw_result *result) {
    amqp_confirm_select(conn, 1);
    if (check_reply(amqp_get_rpc_reply(conn), "confirm.select", result) != 0) return -1;
    char *body = malloc(size ? size : 1);
    unsigned char *confirmed = calloc((size_t)count + 2, 1);
    if (!body || !confirmed) {
        free(body);
        free(confirmed);
        return fail(result, "out of memory");
    }
    memset(body, 'x', size);
    amqp_bytes_t payload = {.len = size, .bytes = body};
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2; // persistent
    // What the adapter adds to a message published with default options (see
    // RabbitMQMessageCodec): a 32-hex-digit message ID and its publish time as the one
    // x-ck-* header, sent mandatory (adapter_properties 1); or the shape it sent before the
    // lean format: five x-ck-* headers, four 64-bit integers and the backoff as text
    // (adapter_properties 2). Constant values: the point is the broker's cost of carrying them.
    amqp_table_entry_t headers[5];
    amqp_boolean_t mandatory = 0;
    if (adapter_properties) {
        static const char *const keys[5] = {"x-ck-published-ms", "x-ck-attempt", "x-ck-max-attempts", "x-ck-timeout-ns", "x-ck-backoff"};
        static const int64_t values[5] = {1763870000000LL, 1, 3, 15000000000LL, 0};
        for (int i = 0; i < 5; i++) {
            headers[i].key = amqp_cstring_bytes(keys[i]);
            headers[i].value.kind = AMQP_FIELD_KIND_I64;
            headers[i].value.value.i64 = values[i];
        }
        headers[4].value.kind = AMQP_FIELD_KIND_UTF8;
        headers[4].value.value.bytes = amqp_cstring_bytes("100000000,2,30000000000,0.2");
        props._flags |= AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
        props.headers.num_entries = adapter_properties == 2 ? 5 : 1;
        props.headers.entries = headers;
        props.message_id = amqp_cstring_bytes("0123456789abcdef0123456789abcdef");
        mandatory = 1;
    }
    amqp_bytes_t routing_key = amqp_cstring_bytes(target->queue);
    struct timeval timeout = {.tv_sec = target->timeout_seconds, .tv_usec = 0};
    long sent = 0, settled = 0, lowest = 1, nacked = 0;
    int status = 0;
    double start = now_seconds();
    while (settled < count && status == 0) {
        while (sent < count && sent - settled < window && status == 0) {
            status = check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, routing_key, mandatory, 0, &props, payload), "basic.publish", result);
            sent++;
        }
        // The window is full (or everything is sent): wait for confirms, then take all buffered ones.
        do {
            if (status != 0) break;
            amqp_frame_t frame;
            status = check_status(amqp_simple_wait_frame_noblock(conn, &frame, &timeout), "wait for confirms", result);
            if (status != 0 || frame.frame_type != AMQP_FRAME_METHOD) continue;
            uint64_t tag;
            int multiple;
            if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                amqp_basic_ack_t *ack = frame.payload.method.decoded;
                tag = ack->delivery_tag;
                multiple = ack->multiple;
            } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
                amqp_basic_nack_t *nack = frame.payload.method.decoded;
                tag = nack->delivery_tag;
                multiple = nack->multiple;
                nacked++;
            } else {
                status = fail(result, "unexpected method 0x%08x while waiting for confirms", frame.payload.method.id);
                break;
            }
            if ((long)tag > sent) {
                status = fail(result, "confirm for tag %llu, never published", (unsigned long long)tag);
                break;
            }
            for (long t = multiple ? lowest : (long)tag; t <= (long)tag; t++) {
                if (!confirmed[t]) {
                    confirmed[t] = 1;
                    settled++;
                }
            }
            while (lowest <= sent && confirmed[lowest]) lowest++;
        } while (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn));
        amqp_maybe_release_buffers(conn);
    }
    result->seconds = now_seconds() - start;
    result->count = nacked;
    free(confirmed);
    free(body);
    return status;
}

static int publish(const ck_raw_target *target, long count, long window, size_t size, int adapter_properties, ck_raw_result *result) {
    memset(result, 0, sizeof *result);
    if (count <= 0 || window <= 0) return fail(result, "count and window must be positive");
    amqp_connection_state_t conn = open_connection(target, result);
    if (!conn) return -1;
    int status = publish_loop(conn, target, count, window, size, adapter_properties, result);
    close_connection(conn);
    return status;
}

int ck_raw_publish(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result) {
    return publish(target, count, window, size, 0, result);
}

int ck_raw_publish_with_adapter_properties(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result) {
    return publish(target, count, window, size, 1, result);
}

int ck_raw_publish_with_five_adapter_headers(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result) {
    return publish(target, count, window, size, 2, result);
}

static int consume_loop(amqp_connection_state_t conn, const ck_raw_target *target, long count, int prefetch, long ack_every, ck_raw_result *result) {
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    if (check_reply(amqp_get_rpc_reply(conn), "basic.qos", result) != 0) return -1;
    struct timeval timeout = {.tv_sec = target->timeout_seconds, .tv_usec = 0};
    double start = now_seconds();
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(target->queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (check_reply(amqp_get_rpc_reply(conn), "basic.consume", result) != 0) return -1;
    long received = 0, unacked = 0;
    while (received < count) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        if (check_reply(amqp_consume_message(conn, &envelope, &timeout, 0), "consume a message", result) != 0) {
            result->count = received;
            return -1;
        }
        received++;
        unacked++;
        int status = 0;
        if (unacked >= ack_every || received == count) {
            status = check_status(amqp_basic_ack(conn, 1, envelope.delivery_tag, unacked > 1), "basic.ack", result);
            unacked = 0;
        }
        amqp_destroy_envelope(&envelope);
        if (status != 0) return -1;
    }
    result->seconds = now_seconds() - start;
    result->count = received;
    return 0;
}

int ck_raw_consume(const ck_raw_target *target, long count, int prefetch, long ack_every, ck_raw_result *result) {
    memset(result, 0, sizeof *result);
    if (count <= 0 || prefetch <= 0 || prefetch > 65535 || ack_every <= 0) return fail(result, "count, prefetch and ack_every must be positive");
    if (ack_every > prefetch) return fail(result, "ack_every must not exceed prefetch (the broker would stop delivering)");
    amqp_connection_state_t conn = open_connection(target, result);
    if (!conn) return -1;
    int status = consume_loop(conn, target, count, prefetch, ack_every, result);
    close_connection(conn);
    return status;
}

int ck_raw_purge(const ck_raw_target *target, ck_raw_result *result) {
    memset(result, 0, sizeof *result);
    amqp_connection_state_t conn = open_connection(target, result);
    if (!conn) return -1;
    amqp_queue_purge_ok_t *ok = amqp_queue_purge(conn, 1, amqp_cstring_bytes(target->queue));
    int status = check_reply(amqp_get_rpc_reply(conn), "queue.purge", result);
    if (status == 0 && ok) result->count = (long)ok->message_count;
    close_connection(conn);
    return status;
}

const char *ck_raw_library_version(void) { return amqp_version(); }
