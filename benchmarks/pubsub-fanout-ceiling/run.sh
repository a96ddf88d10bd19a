#!/bin/bash
# The raw ceiling of the "redis pub/sub signals/s" bench row: the same fan-out (XADD of the
# adapter's fields with a 64-byte payload, delivered to READERS blocking XREAD readers)
# done by C clients only — redis-benchmark publishing and raw-readers.c (hiredis, one
# thread and connection per reader, XREAD COUNT 100) reading — with the CPU of every
# process. A one-off diagnostic for docs/benchmarks.md, not part of `clusterkit bench`.
#
# usage: benchmarks/pubsub-fanout-ceiling/run.sh PORT N READERS PIPELINE
#   PORT: a running redis-server on 127.0.0.1 (e.g. `redis-server --port 46379 --save ''`)
#   N: messages; READERS: 3 in the bench; PIPELINE: redis-benchmark -P (1 or 16)
set -euo pipefail
[ $# -eq 4 ] || { sed -n 8,10p "$0"; exit 2; }
P=$1; N=$2; R=$3; PL=$4; KEY=raw:$RANDOM
here=$(cd "$(dirname "$0")" && pwd); work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/raw-readers" "$here/raw-readers.c" -lhiredis -lpthread
PAY=$(printf 'x%.0s' $(seq 64))
cli() { redis-cli -p "$P" "$@"; }
cli config resetstat >/dev/null
cpu0=$(cli info cpu | awk -F: '/used_cpu_(sys|user):/{s+=$2} END{print s}')
/usr/bin/time -f "readers CPU %U u %S s" "$work/raw-readers" "$P" "$KEY" "$N" "$R" > "$work/readers.out" 2> "$work/readers.time" &
RP=$!
sleep 0.3
/usr/bin/time -f "redis-benchmark CPU %U u %S s" redis-benchmark -p "$P" -c 50 -P "$PL" -n "$N" -q \
    XADD "$KEY" MAXLEN '~' 5000000 '*' t 3w5e11264sgsf.1y2p0ij32e8e7 n vm-123456-1a2b3c4 r a d "$PAY" 2>&1 \
    | tr "\r" "\n" | grep -E "CPU|requests per second" | sed "s/.*: \([0-9.]* requests per second\)/\1/"
wait $RP
tail -1 "$work/readers.out"; cat "$work/readers.time"
cpu1=$(cli info cpu | awk -F: '/used_cpu_(sys|user):/{s+=$2} END{print s}')
echo "server CPU: $(echo "($cpu1 - $cpu0) * 1000000 / $N" | bc -l | cut -c1-6) µs per message (XADD + $R deliveries)"
cli info commandstats | grep -E "xadd|xread" | tr -d '\r' | cut -d, -f1-3
cli unlink "$KEY" >/dev/null
