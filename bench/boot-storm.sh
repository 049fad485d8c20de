#!/usr/bin/env bash
# A boot storm against a fresh ACS with its default bootstrap preset (the whole tree
# discovered with GetParameterNames + GetParameterValues, Connection Request credentials
# set): N simulated TR-181 devices boot at once; prints the summary line at which every one
# has informed. docs/performance.md, "Boot storm".
#
#   cargo build --release -p cwmp && bench/boot-storm.sh [N] [path/to/cwmp]
set -euo pipefail
N=${1:-500}
BIN=${2:-target/release/cwmp}
DIR=$(mktemp -d)
trap 'kill $ACS 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN" acs serve --cwmp-listen 127.0.0.1:18547 --api-listen 127.0.0.1:18557 --data-dir "$DIR/acs" >"$DIR/acs.log" 2>&1 &
ACS=$!
sleep 2
timeout 300 "$BIN" sim --acs-url http://127.0.0.1:18547/ -n "$N" --scenario boot-storm --duration 120 \
    --cr-listen 127.0.0.1:18548 --summary-every 1 2>&1 | grep -m1 -E "informed $N "
