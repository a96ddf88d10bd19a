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
#endif
