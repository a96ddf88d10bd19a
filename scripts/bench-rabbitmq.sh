#!/usr/bin/env bash
# Side-by-side throughput of ClusterKit's rabbitmq queue adapter and a raw rabbitmq-c loop
# (benchmarks/rabbitmq-raw.c), same run, same private broker, same settings.
#
# Starts its own rabbitmq-server (like Sources/ClusterKitRabbitMQTesting/RabbitMQBroker.swift:
# own node name, free loopback ports, data/log dirs, empty plugins file, private HOME with an
# Erlang cookie), builds the C loop and `clusterkit` in release, then runs raw and ours
# alternately: one warm-up round, REPS measured rounds, median of each figure. Prints a
# Markdown table and stops the broker.
#
# Settings (environment): COUNT (messages per phase, 20000), SEQ_COUNT (sequential figure,
# 2000), WINDOW (raw confirm window; the adapter's is fixed at 512), PREFETCH (200),
# CONCURRENCY (adapter consumer handlers, 200), TASKS (adapter publishing tasks, 1024),
# ACK_EVERY (raw batched acks: one basic.ack multiple per this many messages, 50),
# SIZE (100 bytes), REPS (3).
set -euo pipefail

COUNT=${COUNT:-20000}
SEQ_COUNT=${SEQ_COUNT:-2000}
WINDOW=${WINDOW:-512}
PREFETCH=${PREFETCH:-200}
CONCURRENCY=${CONCURRENCY:-200}
TASKS=${TASKS:-1024}
ACK_EVERY=${ACK_EVERY:-50}
SIZE=${SIZE:-100}
REPS=${REPS:-3}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
CTL=/usr/lib/rabbitmq/bin/rabbitmqctl
[ -x "$SERVER" ] || { echo "error: $SERVER is missing: install rabbitmq-server" >&2; exit 1; }

# --- build ---------------------------------------------------------------------------------
mkdir -p "$ROOT/.build/bench"
RAW="$ROOT/.build/bench/rabbitmq-raw"
cc -O2 -Wall -o "$RAW" "$ROOT/benchmarks/rabbitmq-raw.c" -lrabbitmq
(cd "$ROOT" && swift build -c release --product clusterkit >&2)
OURS="$(cd "$ROOT" && swift build -c release --show-bin-path)/clusterkit"

# --- private broker ------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
DIR=$(mktemp -d /tmp/clusterkit-bench-rabbitmq-XXXXXX)
mkdir -p "$DIR/home" "$DIR/mnesia" "$DIR/log"
: > "$DIR/enabled_plugins"
head -c 200 /dev/urandom | tr -dc 'A-Z' | head -c 20 > "$DIR/home/.erlang.cookie"
chmod 400 "$DIR/home/.erlang.cookie"
# rabbitmq-server started as root may drop to the rabbitmq user: let it own its files.
chown -R rabbitmq:rabbitmq "$DIR" 2>/dev/null || true
PORT=$(free_port)
DIST_PORT=$(free_port)
NODE="ckbench$$@localhost"
export HOME="$DIR/home" \
    RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT" \
    RABBITMQ_DIST_PORT="$DIST_PORT" RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log" \
    RABBITMQ_PID_FILE="$DIR/broker.pid" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$DIR/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
PATH="/usr/lib/rabbitmq/bin:$PATH"

"$SERVER" > "$DIR/server.out" 2>&1 &
WRAPPER=$!
stop_broker() {
    "$CTL" -n "$NODE" stop --idle-timeout 20 > /dev/null 2>&1 || true
    if [ -s "$DIR/broker.pid" ]; then kill -9 "$(cat "$DIR/broker.pid")" 2> /dev/null || true; fi
    kill -9 "$WRAPPER" 2> /dev/null || true
    wait "$WRAPPER" 2> /dev/null || true
    rm -rf "$DIR"
}
trap stop_broker EXIT
for _ in $(seq 1 180); do
    if "$CTL" -n "$NODE" await_startup --timeout 60 > /dev/null 2>&1; then break; fi
    kill -0 "$WRAPPER" 2> /dev/null || { echo "error: rabbitmq-server exited; see $DIR/log" >&2; cat "$DIR/server.out" >&2; exit 1; }
    sleep 0.5
done
"$CTL" -n "$NODE" await_startup --timeout 5 > /dev/null
URL="amqp://guest:guest@127.0.0.1:$PORT/%2f"

SERVER_VERSION=$("$CTL" -n "$NODE" version 2> /dev/null || echo "?")
ERLANG_VERSION=$("$CTL" -n "$NODE" eval 'erlang:system_info(otp_release).' 2> /dev/null | tr -d '"' || echo "?")
LIB_VERSION=$(dpkg-query -W -f '${Version}' librabbitmq4 2> /dev/null || echo "?")
echo "# rabbitmq-server $SERVER_VERSION (Erlang/OTP $ERLANG_VERSION), librabbitmq $LIB_VERSION, $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- rounds --------------------------------------------------------------------------------
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<< "$1" | head -n 1; }
line_of() { grep "\"mode\":\"$2\"" <<< "$1" | head -n 1; }

declare -A samples
add() { samples[$1]="${samples[$1]:-} $2"; }

raw() { "$RAW" "$1" --port "$PORT" --queue bench-raw "${@:2}"; }

round() {
    local record=$1 out
    # raw: confirmed publish (window), consume acking every message; publish again, consume with batched acks
    raw purge > /dev/null
    out=$(raw publish --count "$COUNT" --window "$WINDOW" --size "$SIZE"); $record && add raw_publish "$(field "$out" msgsPerSec)"
    out=$(raw consume --count "$COUNT" --prefetch "$PREFETCH" --ack-every 1); $record && add raw_consume1 "$(field "$out" msgsPerSec)"
    out=$(raw publish --count "$COUNT" --window "$WINDOW" --size "$SIZE"); $record && add raw_publish "$(field "$out" msgsPerSec)"
    out=$(raw consume --count "$COUNT" --prefetch "$PREFETCH" --ack-every "$ACK_EVERY"); $record && add raw_consumeK "$(field "$out" msgsPerSec)"
    out=$(raw publish --count "$SEQ_COUNT" --window 1 --size "$SIZE"); $record && add raw_seq "$(field "$out" msgsPerSec)"
    raw purge > /dev/null
    # diagnostics: raw with the adapter's message properties / in-flight marker frames
    out=$(raw publish --count "$COUNT" --window "$WINDOW" --size "$SIZE" --like-adapter 1); $record && add rawlike_publish "$(field "$out" msgsPerSec)"
    out=$(raw consume --count "$COUNT" --prefetch "$PREFETCH" --ack-every "$ACK_EVERY" --markers 1); $record && add rawmark_consume "$(field "$out" msgsPerSec)"
    # ours: publish from TASKS tasks, consume with CONCURRENCY handlers / PREFETCH
    out=$("$OURS" bench-rabbitmq --url "$URL" --count "$COUNT" --size "$SIZE" --tasks "$TASKS" --concurrency "$CONCURRENCY" --prefetch "$PREFETCH")
    $record && add ours_publish "$(field "$(line_of "$out" publish)" msgsPerSec)"
    $record && add ours_consume "$(field "$(line_of "$out" consume)" msgsPerSec)"
    out=$("$OURS" bench-rabbitmq --url "$URL" --queue ours-seq --count "$SEQ_COUNT" --size "$SIZE" --tasks 1 --publish-only)
    $record && add ours_seq "$(field "$(line_of "$out" publish)" msgsPerSec)"
    return 0
}

median() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

echo "# warm-up round" >&2
round false
for rep in $(seq 1 "$REPS"); do
    echo "# round $rep of $REPS" >&2
    round true
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

row() {  # figure, ours key, raw key
    local ours raw ratio met
    ours=$(median "${samples[$2]}")
    raw=$(median "${samples[$3]}")
    ratio=$(awk -v o="$ours" -v r="$raw" 'BEGIN { printf "%.2f", o / r }')
    met=$(awk -v x="$ratio" 'BEGIN { print (x >= 0.9) ? "yes" : "no" }')
    printf '| %s | %s | %s | %s× | 0.9× | %s |\n' "$1" "$ours" "$raw" "$ratio" "$met"
}

echo "rabbitmq-server $SERVER_VERSION (Erlang/OTP $ERLANG_VERSION), librabbitmq $LIB_VERSION; N=$COUNT (sequential $SEQ_COUNT), W=$WINDOW, P=$PREFETCH, C=$CONCURRENCY, tasks=$TASKS, raw batched acks every $ACK_EVERY, $SIZE B persistent; median of $REPS after a warm-up"
echo
echo "| figure (msgs/s) | ours | raw | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
row "confirmed publish, window $WINDOW (ours: $TASKS tasks)" ours_publish raw_publish
row "consume, prefetch $PREFETCH, vs raw acking every message" ours_consume raw_consume1
row "consume, prefetch $PREFETCH, vs raw acking every $ACK_EVERY (multiple)" ours_consume raw_consumeK
row "confirmed publish, sequential (window 1 / 1 task)" ours_seq raw_seq
echo
echo "Diagnostics (raw loop doing part of the adapter's extra work; ours divided by it):"
echo
echo "| figure (msgs/s) | ours | raw+extra | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
row "confirmed publish, raw with the adapter's message-id, 5 headers, mandatory" ours_publish rawlike_publish
row "consume, raw acking every $ACK_EVERY plus the adapter's in-flight marker consume/cancel per message" ours_consume rawmark_consume
echo
echo "samples:"
for key in raw_publish ours_publish raw_consume1 raw_consumeK ours_consume raw_seq ours_seq rawlike_publish rawmark_consume; do
    echo "  $key:${samples[$key]}"
done
