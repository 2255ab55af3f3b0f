#!/usr/bin/env bash
# Modbus TCP connect time and the time to read 100 tags: the gateway's
# connector against pymodbus's own client, side by side, reading the same
# requests from the same simulator in one run.
#
# Extra arguments go to `flowline-bench modbus` (see its --help), for
# example `bench/modbus.sh --runs 9 --reads 5000`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env
cargo build --release --locked -p flowline-bench >/dev/null 2>&1 \
    || cargo build --release --locked -p flowline-bench
exec target/release/flowline-bench modbus \
    --python .venv/bin/python \
    --peer-script bench/peers/pymodbus_client.py \
    "$@"
