#!/usr/bin/env bash
# How long `flowline up` takes to be ready: from starting the process to the
# first 200 from /readyz (catalog open and the demo field loaded).
#
# Two cases, each run RUNS times (default 5) with a release build:
#   first start  an empty data directory: migrations and the demo import;
#   restart      the same data directory again: the catalog is already there.
# Prints the median and the range, in milliseconds. Target: under 3,000 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}

cargo build --release --locked -p flowline >/dev/null 2>&1
binary=$PWD/target/release/flowline
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts flowline on the data directory $1, waits until ready, stops it, and
# prints the milliseconds it took to become ready.
time_to_ready() {
    local port started ready pid
    port=$(free_port)
    started=$(date +%s%N)
    FLOWLINE_DATA_DIR=$1 FLOWLINE_ADMIN_LISTEN=127.0.0.1:$port FLOWLINE_LOG_FORMAT=json \
        "$binary" up 2>>"$work/log" &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { echo "flowline up exited; see its log:" >&2; cat "$work/log" >&2; exit 1; }
        sleep 0.005
    done
    ready=$(date +%s%N)
    kill -TERM "$pid"
    wait "$pid"
    echo $(((ready - started) / 1000000))
}

# Prints "median (min–max)" of the numbers on standard input.
summary() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d–%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

first=() restart=()
for run in $(seq 1 "$runs"); do
    first+=("$(time_to_ready "$work/data-$run")")
    restart+=("$(time_to_ready "$work/data-$run")")
done

printf '%-14s %s\n' "case" "ms to ready: median (min–max), $runs runs"
printf '%-14s %s\n' "first start" "$(printf '%s\n' "${first[@]}" | summary)"
printf '%-14s %s\n' "restart" "$(printf '%s\n' "${restart[@]}" | summary)"
