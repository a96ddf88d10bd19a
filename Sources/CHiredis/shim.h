// hiredis (Debian libhiredis-dev 0.14.1) for Swift. The variadic functions (redisCommand,
// redisAppendCommand) do not import into Swift: ClusterKitRedis uses the Argv variants.
// Small static inline helpers that Swift needs go here.
#ifndef CLUSTERKIT_CHIREDIS_SHIM_H
#define CLUSTERKIT_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>

/// The context's error text (a fixed-size char array Swift imports as a tuple).
static inline const char *clusterkit_redis_errstr(const redisContext *c) { return c->errstr; }

/// Element `i` of an array reply.
static inline redisReply *clusterkit_redis_element(const redisReply *r, size_t i) { return r->element[i]; }

// MARK: Flat replies
// A reply parsed into one reusable arena instead of hiredis's tree of separately allocated
// redisReply objects (two allocations per element, freed again after decoding): nodes in
// pre-order, each with the index one past its subtree (`end`, set by clusterkit_flat_finish
// once the reply is complete), strings copied into one byte buffer.
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct clusterkit_flat_node {
    int type;            // REDIS_REPLY_*
    size_t end;          // index one past this node's subtree
    size_t elements;     // arrays: number of elements
    long long integer;   // integers
    size_t offset, len;  // strings, statuses, errors: bytes[offset ..< offset + len]
} clusterkit_flat_node;

#define CLUSTERKIT_FLAT_MAX_DEPTH 16

typedef struct clusterkit_flat_reply {
    clusterkit_flat_node *nodes;
    size_t count, capacity;
    char *bytes;
    size_t used, bytes_capacity;
    // clusterkit_flat_parse's place in a reply that is not complete yet: the reader's
    // buffer offset of the next item, and the elements still due in each open array.
    size_t parse_position;
    int parse_depth;
    size_t parse_remaining[CLUSTERKIT_FLAT_MAX_DEPTH];
} clusterkit_flat_reply;

/// Sets every node's `end` once a whole reply is in the arena (one pass in pre-order with a
/// stack of open arrays). Setting it while parsing meant walking up every open array for
/// each string: about a third of the arena's cost.
/// Returns 0, or -1 when the nodes do not form one reply (the arrays' element counts do not
/// add up), which the caller reports as a protocol error.
static inline int clusterkit_flat_finish(clusterkit_flat_reply *f) {
    size_t open_index[CLUSTERKIT_FLAT_MAX_DEPTH], open_remaining[CLUSTERKIT_FLAT_MAX_DEPTH];
    int depth = 0;
    for (size_t i = 0; i < f->count; i++) {
        clusterkit_flat_node *node = &f->nodes[i];
        node->end = i + 1;
        if (node->type == REDIS_REPLY_ARRAY && node->elements > 0) {
            if (depth == CLUSTERKIT_FLAT_MAX_DEPTH) return -1;
            open_index[depth] = i;
            open_remaining[depth] = node->elements;
            depth++;
            continue;
        }
        // A leaf (or an empty array) completes its parent array, and so on upwards.
        while (depth > 0 && --open_remaining[depth - 1] == 0) {
            depth--;
            f->nodes[open_index[depth]].end = i + 1;
        }
        if (depth == 0 && i + 1 != f->count) return -1;
    }
    return depth == 0 ? 0 : -1;
}

// MARK: Parsing replies without hiredis's parser
// clusterkit_flat_read_reply parses the next reply from a reader's buffer straight into the
// arena: RESP2 as hiredis parses it, without its per-element task stack and callbacks (about
// 250 instructions per reply element under callgrind, against about 60). The reader's I/O
// stays hiredis's (redisBufferRead); its parser is not used while a reply is read this way,
// so its state stays empty. The parse resumes where it stopped when a reply arrives in
// several reads.

/// Appends one node (and its string) to the arena: the node functions' common part.
static inline int clusterkit_flat_push(clusterkit_flat_reply *f, int type, size_t elements, long long integer,
                                       const char *str, size_t len) {
    if (f->count == f->capacity) {
        size_t capacity = f->capacity ? f->capacity * 2 : 256;
        clusterkit_flat_node *nodes = (clusterkit_flat_node *)realloc(f->nodes, capacity * sizeof(clusterkit_flat_node));
        if (!nodes) return -1;
        f->nodes = nodes;
        f->capacity = capacity;
    }
    size_t offset = f->used;
    if (str) {
        if (f->used + len > f->bytes_capacity) {
            size_t capacity = f->bytes_capacity ? f->bytes_capacity : 4096;
            while (capacity < f->used + len) capacity *= 2;
            char *bytes = (char *)realloc(f->bytes, capacity);
            if (!bytes) return -1;
            f->bytes = bytes;
            f->bytes_capacity = capacity;
        }
        if (len) memcpy(f->bytes + f->used, str, len);
        f->used += len;
    }
    clusterkit_flat_node *node = &f->nodes[f->count++];
    node->type = type;
    node->end = f->count;
    node->elements = elements;
    node->integer = integer;
    node->offset = offset;
    node->len = str ? len : 0;
    return 0;
}

/// A RESP integer line (`-?[0-9]+`, fitting 64 bits); 0 when it is one, -1 otherwise.
static inline int clusterkit_resp_integer(const char *p, size_t len, long long *value) {
    size_t i = 0;
    int negative = 0;
    if (len > 0 && p[0] == '-') { negative = 1; i = 1; }
    if (i == len || len - i > 19) return -1;
    unsigned long long v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    if (v > (unsigned long long)LLONG_MAX + (unsigned long long)negative) return -1;
    *value = negative ? (long long)(0 - v) : (long long)v;
    return 0;
}

/// Starts reading a reply into `f` (emptied).
static inline void clusterkit_flat_begin(clusterkit_flat_reply *f, redisReader *r) {
    f->count = 0;
    f->used = 0;
    f->parse_position = r->pos;
    f->parse_depth = 0;
}

/// Parses from the reader's buffer where the last call stopped. Returns 1 when the reply is
/// complete (the reader's cursor moves past it, and the buffer is compacted as hiredis
/// does), 0 when more bytes are needed (read them with redisBufferRead and call again), -1
/// for a protocol error or no memory (reported on the reader's error fields).
static inline int clusterkit_flat_parse(clusterkit_flat_reply *f, redisReader *r) {
    const char *buf = r->buf;
    size_t len = r->len;
    size_t pos = f->parse_position;
    const char *failure = NULL;
    for (;;) {
        if (pos >= len) break;
        char type = buf[pos];
        const char *line = buf + pos + 1;
        // Lines are short (a type byte and a number, or a status): scanned inline.
        const char *cr = line;
        const char *stop = buf + len;
        while (cr < stop && *cr != '\r') cr++;
        if (cr + 1 >= stop) break;
        if (cr[1] != '\n') { failure = "a reply line does not end with CRLF"; break; }
        size_t line_length = (size_t)(cr - line);
        size_t next = (size_t)(cr - buf) + 2;
        long long number = 0;
        int pushed = 0;
        switch (type) {
        case '+':
            pushed = clusterkit_flat_push(f, REDIS_REPLY_STATUS, 0, 0, line, line_length);
            break;
        case '-':
            pushed = clusterkit_flat_push(f, REDIS_REPLY_ERROR, 0, 0, line, line_length);
            break;
        case ':':
            if (clusterkit_resp_integer(line, line_length, &number) != 0) { failure = "bad integer"; break; }
            pushed = clusterkit_flat_push(f, REDIS_REPLY_INTEGER, 0, number, NULL, 0);
            break;
        case '$':
            if (clusterkit_resp_integer(line, line_length, &number) != 0 || number < -1) { failure = "bad bulk string length"; break; }
            if (number == -1) {
                pushed = clusterkit_flat_push(f, REDIS_REPLY_NIL, 0, 0, NULL, 0);
                break;
            }
            if (len - next < (size_t)number + 2) goto incomplete;
            if (buf[next + (size_t)number] != '\r' || buf[next + (size_t)number + 1] != '\n') { failure = "a bulk string does not end with CRLF"; break; }
            pushed = clusterkit_flat_push(f, REDIS_REPLY_STRING, 0, 0, buf + next, (size_t)number);
            next += (size_t)number + 2;
            break;
        case '*':
            if (clusterkit_resp_integer(line, line_length, &number) != 0 || number < -1) { failure = "bad array length"; break; }
            if (number == -1) {
                pushed = clusterkit_flat_push(f, REDIS_REPLY_NIL, 0, 0, NULL, 0);
                break;
            }
            pushed = clusterkit_flat_push(f, REDIS_REPLY_ARRAY, (size_t)number, 0, NULL, 0);
            if (pushed == 0 && number > 0) {
                if (f->parse_depth == CLUSTERKIT_FLAT_MAX_DEPTH) { failure = "arrays nested too deeply"; break; }
                f->parse_remaining[f->parse_depth++] = (size_t)number;
                pos = next;
                continue;  // the array's elements follow
            }
            break;
        default:
            failure = "unknown reply type";
            break;
        }
        if (failure) break;
        if (pushed != 0) { failure = "out of memory"; break; }
        pos = next;
        // The item is complete; so may be the arrays it ends.
        while (f->parse_depth > 0 && --f->parse_remaining[f->parse_depth - 1] == 0) f->parse_depth--;
        if (f->parse_depth == 0) {
            if (clusterkit_flat_finish(f) != 0) { failure = "inconsistent reply"; break; }
            r->pos = pos;
            if (r->pos >= 1024) {
                sdsrange(r->buf, r->pos, -1);
                r->pos = 0;
                r->len = sdslen(r->buf);
            }
            return 1;
        }
    }
    if (failure) {
        r->err = REDIS_ERR_PROTOCOL;
        snprintf(r->errstr, sizeof r->errstr, "protocol error: %s", failure);
        return -1;
    }
incomplete:
    // Everything before `pos` is in the arena already: drop it from the reader's buffer
    // once that is worth a copy, as hiredis's own parser does between reads, so that a
    // large reply is not held twice (buffer and arena) until its end. The reply's start
    // (r->pos) is never looked at again; the next item starts at 0.
    if (pos >= 16384) {
        sdsrange(r->buf, pos, -1);
        r->len = sdslen(r->buf);
        r->pos = 0;
        pos = 0;
    }
    f->parse_position = pos;
    return 0;
}

/// Reads the next reply of the blocking context `c` into `f`: parses what its reader holds
/// and reads more from the socket (redisBufferRead: blocking, bounded by the context's
/// timeout) until the reply is complete. REDIS_OK, or REDIS_ERR with `c->err` and
/// `c->errstr` set as hiredis sets them (a protocol error as REDIS_ERR_PROTOCOL).
static inline int clusterkit_flat_read_reply(redisContext *c, clusterkit_flat_reply *f) {
    clusterkit_flat_begin(f, c->reader);
    for (;;) {
        int status = clusterkit_flat_parse(f, c->reader);
        if (status == 1) return REDIS_OK;
        if (status < 0) {
            c->err = REDIS_ERR_PROTOCOL;
            snprintf(c->errstr, sizeof c->errstr, "%s", c->reader->errstr);
            return REDIS_ERR;
        }
        if (redisBufferRead(c) != REDIS_OK) return REDIS_ERR;
    }
}

static inline redisReader *clusterkit_context_reader(redisContext *c) { return c->reader; }

static inline void clusterkit_flat_release(clusterkit_flat_reply *flat) {
    free(flat->nodes);
    free(flat->bytes);
    memset(flat, 0, sizeof *flat);
}
#endif
