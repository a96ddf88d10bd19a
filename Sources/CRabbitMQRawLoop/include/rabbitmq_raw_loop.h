// The reference load for `clusterkit bench`'s RabbitMQ rows: rabbitmq-c 0.11 called
// directly, with nothing but the protocol work a reliable queue needs. Every function opens
// its own connection, blocks until done (each wait bounded by `timeout_seconds`), closes the
// connection, and returns 0, or -1 with a message in `result->error`. Calls share no state,
// so calls on different threads are independent. They block: call them off Swift's
// cooperative pool.
#ifndef CLUSTERKIT_RABBITMQ_RAW_LOOP_H
#define CLUSTERKIT_RABBITMQ_RAW_LOOP_H
#include <stddef.h>

/// Where to connect and which durable queue to use.
typedef struct {
    const char *host;
    int port;
    const char *user;
    const char *password;
    const char *vhost;
    const char *queue;
    /// 0: declare the queue (durable, no arguments) if missing. 1: only check that it exists
    /// (passive declare), for a queue someone else declared with arguments (the adapter's).
    int passive;
    /// Bound on every connect and every wait for a frame.
    int timeout_seconds;
} ck_raw_target;

typedef struct {
    /// Timed interval (see each function).
    double seconds;
    /// Messages the broker nacked (publish) or messages handled (consume); purged (purge).
    long count;
    /// The broker's `version` server property, e.g. "3.10.8".
    char server_version[32];
    char error[256];
} ck_raw_result;

/// confirm.select, then `count` persistent (delivery mode 2) messages of `size` bytes to the
/// queue through the default exchange, keeping at most `window` unconfirmed; confirms are
/// read honouring `multiple`. Timed from the first publish to the last confirm.
int ck_raw_publish(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result);

/// The same, with what the `rabbitmq` adapter adds to a message published with default
/// options: a message ID, its publish time as the one `x-ck-*` header (a constant value) and
/// the `mandatory` flag. A diagnostic: how much of the adapter's cost is the broker carrying
/// those properties.
int ck_raw_publish_with_adapter_properties(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result);

/// The same with the shape the adapter sent before its lean format: five `x-ck-*` headers
/// (attempt, maximum attempts, timeout, backoff, publish time) instead of one.
int ck_raw_publish_with_five_adapter_headers(const ck_raw_target *target, long count, long window, size_t size, ck_raw_result *result);

/// basic.qos `prefetch`, basic.consume with manual acks, `count` messages; one basic.ack
/// (multiple) every `ack_every` messages and after the last. Timed from basic.consume to
/// the ack of the `count`-th message.
int ck_raw_consume(const ck_raw_target *target, long count, int prefetch, long ack_every, ck_raw_result *result);

/// queue.purge of the queue (declared first); `result->count` = messages purged.
int ck_raw_purge(const ck_raw_target *target, ck_raw_result *result);

/// rabbitmq-c's version string (e.g. "0.11.0").
const char *ck_raw_library_version(void);
#endif
