/*
 * rabbitmq-raw: the baseline for ClusterKit's RabbitMQ queue adapter. It calls rabbitmq-c
 * 0.11 directly, with nothing but the protocol work a reliable queue needs:
 *
 *   publish: confirm.select, then persistent (delivery mode 2) messages of SIZE bytes to a
 *            durable queue through the default exchange, keeping at most WINDOW unconfirmed;
 *            basic.ack/basic.nack frames are read honouring `multiple`. Timed from the first
 *            publish to the last confirm.
 *   consume: basic.qos PREFETCH, basic.consume with manual acks; acks every message
 *            (ACK_EVERY 1) or one basic.ack multiple every ACK_EVERY messages. Timed from
 *            basic.consume to the ack of the COUNT-th message.
 *
 * Diagnostics (to attribute the adapter's cost, not part of the baseline):
 *   publish --like-adapter 1: also sends what the adapter's messages carry: a 32-character
 *            message-id, its five x-ck-* string headers, and the mandatory flag.
 *   consume --markers 1: also does the adapter's in-flight bookkeeping: per delivery one
 *            basic.consume (no-wait, no-ack) on QUEUE:inflight on channel 2, and per
 *            acknowledged message one basic.cancel (no-wait) of that consumer.
 *
 * Prints one JSON line: {"mode":...,"count":...,"seconds":...,"msgsPerSec":...,...}.
 *
 * Build: cc -O2 -o rabbitmq-raw rabbitmq-raw.c -lrabbitmq
 * Usage: rabbitmq-raw publish|consume|purge --port P [--host H] [--queue Q] [--count N]
 *        [--window W] [--size BYTES] [--prefetch P] [--ack-every K] [--like-adapter 0|1]
 *        [--markers 0|1]
 *        (user/password guest/guest, vhost /)
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what) {
    fprintf(stderr, "rabbitmq-raw: %s\n", what);
    exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        fprintf(stderr, "rabbitmq-raw: %s: %s\n", what, amqp_error_string2(reply.library_error));
    } else {
        fprintf(stderr, "rabbitmq-raw: %s: broker exception (method 0x%08x)\n", what, reply.reply.id);
    }
    exit(1);
}

static void check_status(int status, const char *what) {
    if (status == AMQP_STATUS_OK) return;
    fprintf(stderr, "rabbitmq-raw: %s: %s\n", what, amqp_error_string2(status));
    exit(1);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static amqp_connection_state_t open_connection(const char *host, int port) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket) die("cannot create a socket");
    check_status(amqp_socket_open(socket, host, port), "connect");
    check_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "channel.open");
    return conn;
}

static void close_connection(amqp_connection_state_t conn) {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static void declare_queue(amqp_connection_state_t conn, const char *queue) {
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare");
}

/* Confirmed publishing with a window. Tags are 1...count in publish order. */
static void run_publish(amqp_connection_state_t conn, const char *queue, long count, long window, size_t size, int like_adapter) {
    amqp_confirm_select(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "confirm.select");

    char *body = malloc(size);
    memset(body, 'x', size);
    amqp_bytes_t payload = {.len = size, .bytes = body};
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2; /* persistent */
    amqp_bytes_t routing_key = amqp_cstring_bytes(queue);
    char message_id[33];
    amqp_table_entry_t entries[5];
    static const char *const keys[5] = {"x-ck-attempt", "x-ck-max-attempts", "x-ck-timeout-ns", "x-ck-backoff", "x-ck-published-ms"};
    static const char *const values[5] = {"1", "3", "15000000000", "100000000,2.0,30000000000,0.5", "1767225600000"};
    if (like_adapter) {
        for (int i = 0; i < 5; i++) {
            entries[i].key = amqp_cstring_bytes(keys[i]);
            entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
            entries[i].value.value.bytes = amqp_cstring_bytes(values[i]);
        }
        props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
        props.headers.num_entries = 5;
        props.headers.entries = entries;
    }

    unsigned char *confirmed = calloc((size_t)count + 2, 1);
    long sent = 0, settled = 0, lowest = 1, nacked = 0;
    double start = now_seconds();
    while (settled < count) {
        while (sent < count && sent - settled < window) {
            if (like_adapter) {
                snprintf(message_id, sizeof message_id, "%016lx%016lx", (unsigned long)random(), (unsigned long)sent);
                props.message_id = amqp_cstring_bytes(message_id);
            }
            check_status(amqp_basic_publish(conn, 1, amqp_empty_bytes, routing_key, like_adapter, 0, &props, payload), "basic.publish");
            sent++;
        }
        /* The window is full (or everything is sent): wait for confirms, then take all buffered ones. */
        do {
            amqp_frame_t frame;
            check_status(amqp_simple_wait_frame(conn, &frame), "wait for confirms");
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
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
            } else if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
                die("a mandatory message was returned (unroutable)");
            } else {
                fprintf(stderr, "rabbitmq-raw: unexpected method 0x%08x while waiting for confirms\n", frame.payload.method.id);
                exit(1);
            }
            if ((long)tag > sent) die("confirm for a tag never published");
            long from = multiple ? lowest : (long)tag;
            for (long t = from; t <= (long)tag; t++) {
                if (!confirmed[t]) {
                    confirmed[t] = 1;
                    settled++;
                }
            }
            while (lowest <= sent && confirmed[lowest]) lowest++;
        } while (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn));
        amqp_maybe_release_buffers(conn);
    }
    double seconds = now_seconds() - start;
    printf("{\"mode\":\"publish\",\"count\":%ld,\"window\":%ld,\"size\":%zu,\"persistent\":true,\"likeAdapter\":%s,"
           "\"nacked\":%ld,\"seconds\":%.4f,\"msgsPerSec\":%.0f}\n",
           count, window, size, like_adapter ? "true" : "false", nacked, seconds, count / seconds);
    free(confirmed);
    free(body);
}

/* Consumes `count` messages with manual acks. */
static int send_marker(amqp_connection_state_t conn, const char *queue, uint64_t tag, int start) {
    char name[64];
    snprintf(name, sizeof name, "ck-held-1-%llu", (unsigned long long)tag);
    if (start) {
        amqp_basic_consume_t req;
        memset(&req, 0, sizeof req);
        req.queue = amqp_cstring_bytes(queue);
        req.consumer_tag = amqp_cstring_bytes(name);
        req.no_ack = 1;
        req.nowait = 1;
        req.arguments = amqp_empty_table;
        return amqp_send_method(conn, 2, AMQP_BASIC_CONSUME_METHOD, &req);
    }
    amqp_basic_cancel_t req;
    req.consumer_tag = amqp_cstring_bytes(name);
    req.nowait = 1;
    return amqp_send_method(conn, 2, AMQP_BASIC_CANCEL_METHOD, &req);
}

static void run_consume(amqp_connection_state_t conn, const char *queue, long count, int prefetch, long ack_every, int markers) {
    char inflight[256];
    snprintf(inflight, sizeof inflight, "%s:inflight", queue);
    if (markers) {
        amqp_channel_open(conn, 2);
        check_reply(amqp_get_rpc_reply(conn), "channel.open 2");
        amqp_queue_declare(conn, 2, amqp_cstring_bytes(inflight), 0, 1, 0, 0, amqp_empty_table);
        check_reply(amqp_get_rpc_reply(conn), "queue.declare inflight");
    }
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    check_reply(amqp_get_rpc_reply(conn), "basic.qos");
    double start = now_seconds();
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "basic.consume");
    long received = 0, unacked = 0;
    uint64_t first_unacked = 0;
    size_t bytes = 0;
    while (received < count) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        check_reply(amqp_consume_message(conn, &envelope, NULL, 0), "consume a message");
        received++;
        if (unacked++ == 0) first_unacked = envelope.delivery_tag;
        bytes += envelope.message.body.len;
        if (markers) check_status(send_marker(conn, inflight, envelope.delivery_tag, 1), "marker basic.consume");
        if (unacked >= ack_every || received == count) {
            check_status(amqp_basic_ack(conn, 1, envelope.delivery_tag, unacked > 1), "basic.ack");
            if (markers) {
                for (uint64_t t = first_unacked; t <= envelope.delivery_tag; t++) check_status(send_marker(conn, inflight, t, 0), "marker basic.cancel");
            }
            unacked = 0;
        }
        amqp_destroy_envelope(&envelope);
    }
    double seconds = now_seconds() - start;
    printf("{\"mode\":\"consume\",\"count\":%ld,\"prefetch\":%d,\"ackEvery\":%ld,\"markers\":%s,\"bytes\":%zu,"
           "\"seconds\":%.4f,\"msgsPerSec\":%.0f}\n",
           count, prefetch, ack_every, markers ? "true" : "false", bytes, seconds, count / seconds);
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: rabbitmq-raw publish|consume|purge --port P [--host H] [--queue Q] [--count N] [--window W] [--size B] [--prefetch P] [--ack-every K] [--like-adapter 0|1] [--markers 0|1]");
    const char *mode = argv[1];
    const char *host = "127.0.0.1";
    const char *queue = "bench-raw";
    int port = 0, prefetch = 200;
    long count = 20000, window = 512, ack_every = 1;
    int like_adapter = 0, markers = 0;
    size_t size = 100;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *key = argv[i], *value = argv[i + 1];
        if (!strcmp(key, "--host")) host = value;
        else if (!strcmp(key, "--port")) port = atoi(value);
        else if (!strcmp(key, "--queue")) queue = value;
        else if (!strcmp(key, "--count")) count = atol(value);
        else if (!strcmp(key, "--window")) window = atol(value);
        else if (!strcmp(key, "--size")) size = (size_t)atol(value);
        else if (!strcmp(key, "--prefetch")) prefetch = atoi(value);
        else if (!strcmp(key, "--ack-every")) ack_every = atol(value);
        else if (!strcmp(key, "--like-adapter")) like_adapter = atoi(value);
        else if (!strcmp(key, "--markers")) markers = atoi(value);
        else die("unknown option");
    }
    if (port <= 0 || count <= 0 || window <= 0 || prefetch <= 0 || prefetch > 65535 || ack_every <= 0) die("bad options");
    if (ack_every > prefetch) die("--ack-every must not exceed --prefetch (the broker would stop delivering)");

    amqp_connection_state_t conn = open_connection(host, port);
    declare_queue(conn, queue);
    if (!strcmp(mode, "publish")) {
        run_publish(conn, queue, count, window, size, like_adapter);
    } else if (!strcmp(mode, "consume")) {
        run_consume(conn, queue, count, prefetch, ack_every, markers);
    } else if (!strcmp(mode, "purge")) {
        amqp_queue_purge_ok_t *ok = amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue));
        check_reply(amqp_get_rpc_reply(conn), "queue.purge");
        printf("{\"mode\":\"purge\",\"purged\":%u}\n", ok ? ok->message_count : 0);
    } else {
        die("mode must be publish, consume or purge");
    }
    fflush(stdout);
    close_connection(conn);
    return 0;
}
