#!/usr/bin/env bash
# OPC UA connect time and the time to read 100 tags, without security and
# over Basic256Sha256 SignAndEncrypt with a user name and password: the
# gateway's OPC UA client against asyncua's own client, side by side,
# reading the same nodes from the same simulator in one run.
#
# Extra arguments go to `flowline-bench opcua` (see its --help), for
# example `bench/opcua.sh --runs 9 --reads 5000`. Builds into
# $CARGO_TARGET_DIR when set, else target/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env
cargo build --release --locked -p flowline-bench >/dev/null 2>&1 \
    || cargo build --release --locked -p flowline-bench
exec "${CARGO_TARGET_DIR:-target}/release/flowline-bench" opcua \
    --python .venv/bin/python \
    --peer-script bench/peers/asyncua_client.py \
    "$@"
