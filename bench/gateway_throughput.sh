#!/usr/bin/env bash
# Gateway throughput: the real gateway polling every Modbus tag of a
# simulated field of about 50,000 tags, once at the rated 1 s interval and
# once flat out, with the CPU of the gateway and of the simulator (each in
# its own process); pymodbus's client reading the same requests flat out is
# the peer.
#
# Extra arguments go to `flowline-bench throughput` (see its --help), for
# example `bench/gateway_throughput.sh --runs 5 --seconds 20`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env
cargo build --release --locked -p flowline-bench >/dev/null 2>&1 \
    || cargo build --release --locked -p flowline-bench
exec target/release/flowline-bench throughput \
    --pads 200 --wells-per-pad 25 \
    --python .venv/bin/python \
    --peer-script bench/peers/pymodbus_client.py \
    "$@"
