#!/usr/bin/env bash
# Fuzzes the cwmp-wire decoder for a bounded time (CI calls this; see fuzz/README.md).
#
#   fuzz/run.sh [SECONDS]   seconds per target, default $FUZZ_SECONDS or 60
#
# Installs cargo-fuzz if it is missing, builds both targets with the nightly toolchain when
# one is installed (otherwise with the default toolchain and RUSTC_BOOTSTRAP=1, which lets
# it accept cargo-fuzz's -Z flags), then runs `decode` and `roundtrip` from the seeds in
# fuzz/seeds. New corpus entries go to a temporary directory; a crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-${FUZZ_SECONDS:-60}}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/decode" "$corpus/roundtrip"

for target in decode roundtrip; do
    echo "== cargo fuzz run $target (${seconds}s)"
    # The decode corpus found so far seeds the round trip too.
    cargo "${toolchain[@]}" fuzz run "$target" "$corpus/$target" seeds "$corpus/decode" -- \
        -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
