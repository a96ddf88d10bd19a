// hiredis (Debian libhiredis-dev 0.14.1) for Swift. The variadic functions (redisCommand,
// redisAppendCommand) do not import into Swift: ClusterKitRedis uses the Argv variants.
// Small static inline helpers that Swift needs go here.
#ifndef CLUSTERKIT_CHIREDIS_SHIM_H
#define CLUSTERKIT_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
