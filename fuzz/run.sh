#!/usr/bin/env bash
# Fuzzes the cwmp-wire decoder for a bounded time, starting from the committed corpus and
# merging what it finds back into it (CI calls this; see fuzz/README.md).
#
#   fuzz/run.sh [SECONDS [TARGET...]]   seconds per target, default $FUZZ_SECONDS or 60;
#                                       targets `decode` and `roundtrip` by default
#   fuzz/run.sh 3600                    the campaign to run before each release
#
# Installs cargo-fuzz if it is missing, and builds with the nightly toolchain when one is
# installed (otherwise with the default toolchain and RUSTC_BOOTSTRAP=1, which lets it
# accept cargo-fuzz's -Z flags). Each target runs from fuzz/corpus/<target> and fuzz/seeds
# (the round trip also from the decode corpus); new inputs go to a temporary directory, then
# the corpus is minimised with libFuzzer's -merge=1 to the inputs that add coverage beyond
# the seeds, and written back to fuzz/corpus/<target> (commit it). A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script fail. The last lines are a summary per target.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-${FUZZ_SECONDS:-60}}"
targets=("${@:2}")
[ ${#targets[@]} -gt 0 ] || targets=(decode roundtrip)

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

# The same limits for fuzzing and merging, so the corpus holds nothing a run would refuse.
options=(-max_len=8192 -timeout=10 -rss_limit_mb=2048)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# "<files> files, <bytes> bytes" of a directory.
size() {
    find "$1" -type f -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d files, %d bytes", n, s}'
}

summary=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    work="$scratch/$target"
    mkdir -p "$corpus" "$work/new" "$work/merged"
    # Inputs every run starts from and that the committed corpus need not repeat.
    base=(seeds)
    # The decode corpus seeds the round trip too.
    if [ "$target" = roundtrip ] && [ -d corpus/decode ]; then base+=(corpus/decode); fi
    before="$(size "$corpus")"

    echo "== cargo fuzz run $target (${seconds}s) from $corpus ($before)"
    cargo "${toolchain[@]}" fuzz run "$target" "$work/new" "$corpus" "${base[@]}" -- \
        -max_total_time="$seconds" "${options[@]}" -print_final_stats=1 2>&1 | tee "$work/log"

    echo "== minimising $corpus"
    find "${base[@]}" -type f -exec cp -t "$work/merged/" {} +
    cargo "${toolchain[@]}" fuzz run "$target" "$work/merged" "$corpus" "$work/new" -- \
        -merge=1 -use_counters=0 "${options[@]}" >"$work/merge.log" 2>&1 || { cat "$work/merge.log"; exit 1; }
    find "${base[@]}" -type f -printf "$work/merged/%f\0" | xargs -0 rm -f
    rm -rf "$corpus"
    cp -r "$work/merged" "$corpus"

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log")
    summary+=("$target: ${runs:-?} executions in ${took:-?} s, no crash; corpus $before -> $(size "$corpus")")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
