#!/usr/bin/env bash
# Three instances of the HummingbirdCluster example against one private redis-server.
#
# Builds the example (debug), starts redis-server on a free loopback port in a temp dir (no
# persistence) and three instances on free ports (PORT=0; each logs the port it got), waits
# until each answers GET /health, then drives requests at all three at once and checks:
#   - snowflake IDs: unique across instances, each instance on its own worker ID;
#   - the counter: INSTANCES x INCREMENTS concurrent lock-protected increments give exactly
#     that total, and every increment returned a different value;
#   - jobs: every posted job processed exactly once (no loss, no duplicate), none dead;
#   - cache invalidation: B and C serve an item from their local copy, A writes it, and B
#     and C return the new value within a bounded wait;
#   - graceful shutdown: SIGTERM ends every instance with status 0 and releases its worker ID.
# Prints one PASS/FAIL line per check and a summary; exits non-zero on any failure.
# Needs redis-server, redis-cli, curl and jq (Debian: redis-server curl jq); a missing one
# is a failure, never a skip. Cleans up its processes and temp dir on exit, failed or not.
#
# Knobs (environment): SWIFT (swift), JOBS (300), INCREMENTS (100 per instance),
# ID_REQUESTS (5 per instance), IDS_PER_REQUEST (1000), KEEP_TEMP=1 keeps the temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SWIFT="${SWIFT:-swift}"
JOBS="${JOBS:-300}"
INCREMENTS="${INCREMENTS:-100}"
ID_REQUESTS="${ID_REQUESTS:-5}"
IDS_PER_REQUEST="${IDS_PER_REQUEST:-1000}"
STARTUP_SECONDS=60      # until every instance answers /health
SETTLE_SECONDS=60       # until every job is processed
SIGNAL_SECONDS=10       # until a write on A shows on B and C
SHUTDOWN_SECONDS=30     # until an instance exits after SIGTERM
NAMES=(a b c)

say() { printf '%s\n' "$*" >&2; }
milliseconds() { date +%s%3N; }
die() { say "FAIL: $*"; exit 1; }

for tool in redis-server redis-cli curl jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        package="$tool"
        [ "$tool" = redis-cli ] && package=redis-tools
        die "$tool not found; install it: sudo apt-get install -y $package (make test does this when run as root)"
    fi
done

temp="$(mktemp -d "${TMPDIR:-/tmp}/hb-cluster-check.XXXXXX")"
redis_pid=""
declare -A pid=() port=()

cleanup() {
    local status=$?
    for name in "${NAMES[@]}"; do
        if [ -n "${pid[$name]:-}" ] && kill -0 "${pid[$name]}" 2>/dev/null; then
            kill -KILL "${pid[$name]}" 2>/dev/null || true
        fi
    done
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
        kill -KILL "$redis_pid" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        for name in "${NAMES[@]}"; do
            if [ -s "$temp/$name.log" ]; then
                say "--- last lines of instance $name's log ---"
                tail -n 15 "$temp/$name.log" >&2
            fi
        done
    fi
    if [ "${KEEP_TEMP:-0}" = 1 ]; then say "kept $temp"; else rm -rf "$temp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------------------
say "building the example (debug)…"
"$SWIFT" build --package-path "$here" >"$temp/build.log" 2>&1 || { tail -n 40 "$temp/build.log" >&2; die "swift build failed"; }
binary="$("$SWIFT" build --package-path "$here" --show-bin-path)/HummingbirdCluster"
[ -x "$binary" ] || die "no executable at $binary"

# --- redis ------------------------------------------------------------------------------
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_redis() {
    local attempt candidate
    for attempt in 1 2 3 4 5; do
        candidate=$(( 20000 + RANDOM % 40000 ))
        port_is_free "$candidate" || continue
        redis-server --bind 127.0.0.1 --port "$candidate" --dir "$temp" --save '' --appendonly no \
            --logfile "$temp/redis.log" --daemonize no &
        redis_pid=$!
        for _ in $(seq 50); do
            if [ "$(redis-cli -h 127.0.0.1 -p "$candidate" ping 2>/dev/null)" = PONG ]; then
                redis_port=$candidate
                return 0
            fi
            kill -0 "$redis_pid" 2>/dev/null || break    # lost the port to someone else
            sleep 0.1
        done
        kill -KILL "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    done
    die "could not start redis-server (see its log: $(tail -n 3 "$temp/redis.log" 2>/dev/null))"
}
start_redis
say "redis-server on 127.0.0.1:$redis_port"

# --- instances --------------------------------------------------------------------------
for name in "${NAMES[@]}"; do
    # Run in the temp dir so a developer's .env cannot change the setup.
    (cd "$temp" && exec env \
        APP_NAME=hbcheck CLUSTERKIT_NODE_ID="instance-$name" \
        CACHE_DEFAULT_STORE=redis PUBSUB_ADAPTER=redis QUEUE_ADAPTER=redis \
        LOCK_ADAPTER_DEFAULT=redis WORKER_ID_ADAPTER=redis \
        REDIS_URL="redis://127.0.0.1:$redis_port/0" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info \
        "$binary") >"$temp/$name.log" 2>&1 &
    pid[$name]=$!
done

deadline=$(( SECONDS + STARTUP_SECONDS ))
for name in "${NAMES[@]}"; do
    while true; do
        kill -0 "${pid[$name]}" 2>/dev/null || die "instance $name exited during startup"
        if [ -z "${port[$name]:-}" ]; then
            port[$name]="$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$temp/$name.log" | head -n 1 | sed 's/.*://' || true)"
        fi
        if [ -n "${port[$name]}" ] &&
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:${port[$name]}/health")" = 200 ]; then
            break
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "instance $name not healthy within ${STARTUP_SECONDS}s"
        sleep 0.2
    done
    say "instance $name on port ${port[$name]}: healthy"
done
url() { printf 'http://127.0.0.1:%s' "${port[$1]}"; }

passed=0
failed=0
pass() { passed=$((passed + 1)); say "PASS  $*"; }
fail() { failed=$((failed + 1)); say "FAIL  $*"; }

# --- concurrent load at all three: IDs, counter increments, job posts --------------------
# Each driver is a background job writing one JSON body per line; xargs -P runs the curls
# concurrently, and fails (status 123) if any request failed.
drive() { # drive OUT N PARALLEL CURL-ARGS...
    local out=$1 count=$2 parallel=$3
    shift 3
    seq "$count" | xargs -P "$parallel" -I{} curl -sS --fail-with-body --max-time 60 -w '\n' "$@" >"$out" 2>"$out.err"
}
say "driving load at all three instances at once…"
jobs_per_instance=$(( (JOBS + ${#NAMES[@]} - 1) / ${#NAMES[@]} ))
drivers=()
load_started=$(milliseconds)
for name in "${NAMES[@]}"; do
    drive "$temp/ids-$name" "$ID_REQUESTS" 5 "$(url "$name")/ids?count=$IDS_PER_REQUEST" & drivers+=($!)
    drive "$temp/counter-$name" "$INCREMENTS" 25 -X POST "$(url "$name")/counter/increment" & drivers+=($!)
    drive "$temp/jobs-$name" "$jobs_per_instance" 10 -X POST -H 'content-type: application/json' \
        -d '{"payload":"from '"$name"'"}' "$(url "$name")/jobs" & drivers+=($!)
done
driver_failures=0
for driver in "${drivers[@]}"; do wait "$driver" || driver_failures=$((driver_failures + 1)); done
if [ "$driver_failures" -eq 0 ]; then
    pass "load: every request answered 2xx ($(( ${#NAMES[@]} * (ID_REQUESTS + INCREMENTS + jobs_per_instance) )) requests in $(( $(milliseconds) - load_started )) ms)"
else
    fail "load: $driver_failures of ${#drivers[@]} drivers saw failed requests: $(cat "$temp"/*.err | sort | uniq -c | head -n 5)"
fi

# IDs
jq -r '.ids[]' "$temp"/ids-? >"$temp/all-ids" 2>/dev/null || true
expected_ids=$(( ${#NAMES[@]} * ID_REQUESTS * IDS_PER_REQUEST ))
issued=$(wc -l <"$temp/all-ids")
duplicates=$(sort "$temp/all-ids" | uniq -d | wc -l)
worker_ids=$(for name in "${NAMES[@]}"; do curl -sS --max-time 5 "$(url "$name")/health" | jq -r '.workerID'; done | sort -u | grep -cv null || true)
if [ "$issued" -eq "$expected_ids" ] && [ "$duplicates" -eq 0 ] && [ "$worker_ids" -eq "${#NAMES[@]}" ]; then
    pass "ids: $issued snowflake IDs from ${#NAMES[@]} instances, 0 duplicates, ${#NAMES[@]} distinct worker IDs"
else
    fail "ids: expected $expected_ids unique IDs on ${#NAMES[@]} worker IDs, got $issued with $duplicates duplicated, $worker_ids distinct worker IDs"
fi

# Counter
expected_total=$(( ${#NAMES[@]} * INCREMENTS ))
returned=$(jq -r '.value' "$temp"/counter-? 2>/dev/null | sort -n | uniq | wc -l || true)
finals=$(for name in "${NAMES[@]}"; do curl -sS --max-time 5 "$(url "$name")/counter" | jq -r '.value'; done | sort -u | tr '\n' ' ')
if [ "$finals" = "$expected_total " ] && [ "$returned" -eq "$expected_total" ]; then
    pass "counter: $expected_total concurrent increments on ${#NAMES[@]} instances -> $expected_total, each increment saw a distinct value"
else
    fail "counter: expected $expected_total, instances read [${finals% }], $returned distinct values returned by the increments"
fi

# Jobs
jq -r '.id' "$temp"/jobs-? 2>/dev/null | sort >"$temp/posted" || true
posted=$(wc -l <"$temp/posted")
deadline=$(( SECONDS + SETTLE_SECONDS ))
while true; do
    processed_total=0
    for name in "${NAMES[@]}"; do
        total=$(curl -sS --max-time 5 "$(url "$name")/jobs/processed" | jq -r '.total')
        processed_total=$(( processed_total + total ))
    done
    counts=$(curl -sS --max-time 5 "$(url a)/jobs/counts")
    open=$(jq -r '.waiting + .delayed + .inFlight' <<<"$counts")
    if [ "$processed_total" -ge "$posted" ] && [ "$open" -eq 0 ]; then break; fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
done
: >"$temp/processed"
distribution=""
for name in "${NAMES[@]}"; do
    curl -sS --max-time 5 "$(url "$name")/jobs/processed" | jq -r '.ids[]' >"$temp/processed-$name"
    cat "$temp/processed-$name" >>"$temp/processed"
    distribution+="$name $(wc -l <"$temp/processed-$name"), "
done
sort -o "$temp/processed" "$temp/processed"
runs=$(wc -l <"$temp/processed")
duplicate_runs=$(uniq -d "$temp/processed" | wc -l)
missing=$(comm -23 "$temp/posted" <(sort -u "$temp/processed") | wc -l)
unknown=$(comm -13 "$temp/posted" <(sort -u "$temp/processed") | wc -l)
dead=$(curl -sS --max-time 5 "$(url a)/jobs/counts" | jq -r '.dead')
if [ "$posted" -eq $(( jobs_per_instance * ${#NAMES[@]} )) ] && [ "$runs" -eq "$posted" ] && [ "$duplicate_runs" -eq 0 ] &&
    [ "$missing" -eq 0 ] && [ "$unknown" -eq 0 ] && [ "$dead" -eq 0 ]; then
    pass "jobs: $posted posted, $runs processed exactly once (${distribution%, }), 0 dead"
else
    fail "jobs: $posted posted (expected $(( jobs_per_instance * ${#NAMES[@]} ))), $runs handler runs, $duplicate_runs duplicated, $missing never processed, $unknown unknown, $dead dead"
fi

# Cache invalidation across instances
item="$(url a)/items/check-item"
put() { curl -sS --fail-with-body --max-time 10 -X PUT -H 'content-type: application/json' -d "{\"name\":\"$2\"}" "$1" >/dev/null; }
read_item() { curl -sS --fail-with-body --max-time 10 "$(url "$1")/items/check-item"; }
invalidation_ok=true
put "$item" old
for name in b c; do
    read_item "$name" >/dev/null
    second=$(read_item "$name")
    if [ "$(jq -r '.item.name + " " + .source' <<<"$second")" != "old local" ]; then
        invalidation_ok=false
        fail "invalidation: before the write, $name should serve 'old' from its local copy, got: $second"
    fi
done
if $invalidation_ok; then
    put "$item" new
    written=$(milliseconds)
    deadline=$(( SECONDS + SIGNAL_SECONDS ))
    declare -A seen=([b]=old [c]=old)
    while true; do
        for name in b c; do
            [ "${seen[$name]}" = new ] || seen[$name]=$(read_item "$name" | jq -r '.item.name')
        done
        [ "${seen[b]}${seen[c]}" = newnew ] && break
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.05
    done
    for name in b c; do
        if [ "${seen[$name]}" != new ]; then
            invalidation_ok=false
            fail "invalidation: $name still served '${seen[$name]}' ${SIGNAL_SECONDS}s after the write on a"
        fi
    done
    $invalidation_ok && pass "invalidation: a wrote the item; b and c dropped their local copies and served the new value within $(( $(milliseconds) - written )) ms"
fi

# Graceful shutdown
for name in "${NAMES[@]}"; do kill -TERM "${pid[$name]}"; done
shutdown_ok=true
for name in "${NAMES[@]}"; do
    deadline=$(( SECONDS + SHUTDOWN_SECONDS ))
    while kill -0 "${pid[$name]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "${pid[$name]}" 2>/dev/null; then
        shutdown_ok=false
        fail "shutdown: instance $name still running ${SHUTDOWN_SECONDS}s after SIGTERM"
        continue
    fi
    status=0
    wait "${pid[$name]}" || status=$?
    pid[$name]=""
    if [ "$status" -ne 0 ] || ! grep -q 'shut down cleanly' "$temp/$name.log"; then
        shutdown_ok=false
        fail "shutdown: instance $name exited with status $status"
    fi
done
leases=$(redis-cli -h 127.0.0.1 -p "$redis_port" --scan --pattern 'hbcheck:workerid:*' | wc -l)
if $shutdown_ok && [ "$leases" -eq 0 ]; then
    pass "shutdown: SIGTERM stopped all ${#NAMES[@]} instances cleanly (status 0) and released their worker IDs"
elif $shutdown_ok; then
    fail "shutdown: $leases worker-ID leases left in Redis after the instances stopped"
fi

say ""
if [ "$failed" -eq 0 ]; then
    say "three-instance check: PASS ($passed passed, 0 failed)"
else
    say "three-instance check: FAIL ($passed passed, $failed failed)"
    exit 1
fi
