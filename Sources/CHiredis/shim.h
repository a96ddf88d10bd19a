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
// once the reply is complete), strings copied into one byte buffer. Installed on a reader
// for one reply (clusterkit_flat_install), then restored.
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

typedef struct clusterkit_flat_reply {
    clusterkit_flat_node *nodes;
    size_t count, capacity;
    char *bytes;
    size_t used, bytes_capacity;
} clusterkit_flat_reply;

static inline void *clusterkit_flat_add(const redisReadTask *task, int type, size_t elements, long long integer,
                                        const char *str, size_t len) {
    clusterkit_flat_reply *f = (clusterkit_flat_reply *)task->privdata;
    if (f->count == f->capacity) {
        size_t capacity = f->capacity ? f->capacity * 2 : 256;
        clusterkit_flat_node *nodes = (clusterkit_flat_node *)realloc(f->nodes, capacity * sizeof(clusterkit_flat_node));
        if (!nodes) return NULL;
        f->nodes = nodes;
        f->capacity = capacity;
    }
    size_t offset = f->used;
    if (str) {
        if (f->used + len > f->bytes_capacity) {
            size_t capacity = f->bytes_capacity ? f->bytes_capacity : 4096;
            while (capacity < f->used + len) capacity *= 2;
            char *bytes = (char *)realloc(f->bytes, capacity);
            if (!bytes) return NULL;
            f->bytes = bytes;
            f->bytes_capacity = capacity;
        }
        if (len) memcpy(f->bytes + f->used, str, len);
        f->used += len;
    }
    size_t index = f->count++;
    clusterkit_flat_node *node = &f->nodes[index];
    node->type = type;
    node->end = f->count;
    node->elements = elements;
    node->integer = integer;
    node->offset = offset;
    node->len = str ? len : 0;
    return (void *)(uintptr_t)(index + 1);
}

static inline void *clusterkit_flat_string(const redisReadTask *task, char *str, size_t len) {
    return clusterkit_flat_add(task, task->type, 0, 0, str, len);
}
static inline void *clusterkit_flat_array(const redisReadTask *task, int elements) {
    return clusterkit_flat_add(task, REDIS_REPLY_ARRAY, elements > 0 ? (size_t)elements : 0, 0, NULL, 0);
}
static inline void *clusterkit_flat_integer(const redisReadTask *task, long long value) {
    return clusterkit_flat_add(task, REDIS_REPLY_INTEGER, 0, value, NULL, 0);
}
static inline void *clusterkit_flat_nil(const redisReadTask *task) {
    return clusterkit_flat_add(task, REDIS_REPLY_NIL, 0, 0, NULL, 0);
}
/// The arena owns every node: nothing to free per object.
static inline void clusterkit_flat_free_object(void *object) { (void)object; }

/// Makes `reader` parse into `flat` (emptied first) until restored; returns what to restore.
static inline redisReplyObjectFunctions *clusterkit_flat_install(redisReader *reader, clusterkit_flat_reply *flat) {
    static redisReplyObjectFunctions functions = {
        clusterkit_flat_string, clusterkit_flat_array, clusterkit_flat_integer, clusterkit_flat_nil, clusterkit_flat_free_object
    };
    redisReplyObjectFunctions *saved = reader->fn;
    flat->count = 0;
    flat->used = 0;
    reader->fn = &functions;
    reader->privdata = flat;
    return saved;
}

/// Restores the functions `clusterkit_flat_install` returned. A reply left half-parsed
/// (a read that failed or timed out mid-reply) holds arena indexes that hiredis must never
/// free or extend with its own functions: it is dropped and the reader marked as failed,
/// so later use reports an error (callers drop such a connection anyway).
static inline void clusterkit_flat_restore(redisReader *reader, redisReplyObjectFunctions *saved) {
    if (reader->reply != NULL || reader->ridx >= 0) {
        reader->reply = NULL;
        reader->ridx = -1;
        if (!reader->err) {
            reader->err = REDIS_ERR_PROTOCOL;
            snprintf(reader->errstr, sizeof reader->errstr, "%s", "a partly read reply was abandoned");
        }
    }
    reader->fn = saved;
    reader->privdata = NULL;
}

/// Sets every node's `end` once a whole reply is in the arena (one pass in pre-order with a
/// stack of open arrays; hiredis nests at most 9 levels). Setting it while parsing meant
/// walking up every open array for each string: about a third of the arena's cost.
/// Returns 0, or -1 when the nodes do not form one reply (the arrays' element counts do not
/// add up), which the caller reports as a protocol error.
static inline int clusterkit_flat_finish(clusterkit_flat_reply *f) {
    size_t open_index[16], open_remaining[16];
    int depth = 0;
    for (size_t i = 0; i < f->count; i++) {
        clusterkit_flat_node *node = &f->nodes[i];
        node->end = i + 1;
        if (node->type == REDIS_REPLY_ARRAY && node->elements > 0) {
            if (depth == 16) return -1;
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

static inline redisReader *clusterkit_context_reader(redisContext *c) { return c->reader; }

static inline void clusterkit_flat_release(clusterkit_flat_reply *flat) {
    free(flat->nodes);
    free(flat->bytes);
    memset(flat, 0, sizeof *flat);
}
#endif
