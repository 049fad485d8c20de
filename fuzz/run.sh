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
# accept cargo-fuzz's -Z flags).
#
# The corpus of each target is fuzz/corpus/<target>.tar.xz (XML compresses tenfold; commit
# it after a campaign). A run unpacks it, fuzzes from it and from fuzz/seeds (the round trip
# also from the decode corpus), then minimises it with libFuzzer's -merge=1, keeping the
# inputs that reach edges beyond those of the seeds (-use_counters=0: hit counts alone do
# not earn a place), and packs it again, byte for byte the same when nothing was added.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the script fail. The last
# lines are a summary per target.
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

# Every committed corpus, unpacked: the round trip reads the decode corpus too.
for archive in corpus/*.tar.xz; do
    [ -e "$archive" ] || continue
    dir="$scratch/corpus/$(basename "$archive" .tar.xz)"
    mkdir -p "$dir"
    tar -xJf "$archive" -C "$dir"
done

# "<files> files, <bytes> bytes" of a directory.
size() {
    find "$1" -type f -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d files, %d bytes", n, s}'
}

summary=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    work="$scratch/$target"
    mkdir -p "$corpus" "$work/new" "$work/merged"
    # Inputs every run starts from and that the committed corpus need not repeat.
    base=(seeds)
    if [ "$target" = roundtrip ]; then base+=("$scratch/corpus/decode"); mkdir -p "$scratch/corpus/decode"; fi
    before="$(size "$corpus")"

    echo "== cargo fuzz run $target (${seconds}s) from corpus/$target.tar.xz ($before)"
    cargo "${toolchain[@]}" fuzz run "$target" "$work/new" "$corpus" "${base[@]}" -- \
        -max_total_time="$seconds" "${options[@]}" -print_final_stats=1 2>&1 | tee "$work/log"

    echo "== minimising corpus/$target.tar.xz"
    find "${base[@]}" -type f -exec cp -t "$work/merged/" {} +
    cargo "${toolchain[@]}" fuzz run "$target" "$work/merged" "$corpus" "$work/new" -- \
        -merge=1 -use_counters=0 "${options[@]}" >"$work/merge.log" 2>&1 || { cat "$work/merge.log"; exit 1; }
    find "${base[@]}" -type f -printf "$work/merged/%f\0" | xargs -0 rm -f
    rm -rf "$corpus"
    mv "$work/merged" "$corpus"
    mkdir -p corpus
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$corpus" -cf - . | xz -T1 >"$work/packed"
    mv "$work/packed" "corpus/$target.tar.xz"

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log")
    packed=$(stat -c %s "corpus/$target.tar.xz")
    summary+=("$target: ${runs:-?} executions in ${took:-?} s, no crash; corpus $before -> $(size "$corpus") ($packed bytes packed)")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
