// Raw ceiling for the pub/sub fan-out (benchmarks/pubsub-fanout-ceiling/run.sh): R blocking
// XREAD readers (threads, one hiredis connection each, COUNT 100), each reading stream KEY
// from 0-0 until it has N entries; prints per-reader time from first to last entry and the rate.
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *host = "127.0.0.1"; static int port; static const char *key; static long target;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
typedef struct { double first, last; long count; } result;

static void *reader(void *arg) {
    result *r = arg; char last[64] = "0-0";
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) { fprintf(stderr, "connect failed\n"); exit(1); }
    r->first = 0;
    while (r->count < target) {
        const char *argv[] = {"XREAD", "COUNT", "100", "BLOCK", "2000", "STREAMS", key, last};
        redisReply *reply = redisCommandArgv(c, 8, argv, NULL);
        if (!reply) { fprintf(stderr, "read failed\n"); exit(1); }
        if (reply->type == REDIS_REPLY_ARRAY) {
            redisReply *entries = reply->element[0]->element[1];
            if (entries->elements && r->first == 0) r->first = now();
            for (size_t i = 0; i < entries->elements; i++) {
                redisReply *e = entries->element[i];
                snprintf(last, sizeof last, "%s", e->element[0]->str);
                redisReply *fields = e->element[1];
                // touch the payload like a subscriber would
                volatile char sink = fields->elements >= 8 ? fields->element[7]->str[0] : 0; (void)sink;
                r->count++;
            }
            r->last = now();
        } else if (reply->type == REDIS_REPLY_NIL && r->first != 0) {
            fprintf(stderr, "reader idle with %ld of %ld\n", r->count, target); freeReplyObject(reply); break;
        }
        freeReplyObject(reply);
    }
    redisFree(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: rawreaders PORT KEY N READERS\n"); return 2; }
    port = atoi(argv[1]); key = argv[2]; target = atol(argv[3]); int readers = atoi(argv[4]);
    pthread_t threads[16]; result results[16]; memset(results, 0, sizeof results);
    for (int i = 0; i < readers; i++) pthread_create(&threads[i], NULL, reader, &results[i]);
    double first = 1e300, last = 0;
    for (int i = 0; i < readers; i++) {
        pthread_join(threads[i], NULL);
        if (results[i].first < first) first = results[i].first;
        if (results[i].last > last) last = results[i].last;
        printf("reader %d: %ld entries in %.3f s\n", i, results[i].count, results[i].last - results[i].first);
    }
    printf("fan-out: %ld messages to %d readers in %.3f s = %.0f msg/s\n", target, readers, last - first, target / (last - first));
    return 0;
}
