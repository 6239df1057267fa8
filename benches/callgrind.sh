#!/usr/bin/env bash
# Instruction counts of every benchmark variant, under valgrind's callgrind: unlike wall-clock
# times on a shared, noisy machine, these repeat exactly from run to run.
#
# Usage: benches/callgrind.sh [N]   (N calls per variant, default 1000)
#
# Builds the `count` binary (release profile, as `cargo bench` uses), then for each program and
# variant runs `count PROGRAM VARIANT N` under callgrind with collection switched on only inside
# `measure_PROGRAM_VARIANT` (the N calls and whatever they call: exp, sin, allocation), and
# prints a markdown table of instructions per call with the ratio generated / hand-written.
set -euo pipefail

n="${1:-1000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

command -v valgrind >/dev/null || {
    echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
}

cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p backprop-bench --bin count
target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
count="$target_dir/release/count"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Instructions per call of one variant.
per_call() {
    local program="$1" variant="$2" file="$out/$1.$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$file" \
        --toggle-collect="*measure_${program}_${variant}*" \
        "$count" "$program" "$variant" "$n" >/dev/null 2>"$out/$program.$variant.log" || {
        cat "$out/$program.$variant.log" >&2
        exit 1
    }
    local total
    total="$(sed -n 's/^totals: *//p' "$file")"
    echo $(((total + n / 2) / n))
}

echo "instructions per call (callgrind, $n calls per variant)"
echo
echo "| program | generated | hand | generated / hand | numeric | dual |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for program in staged neuron chain200; do
    generated="$(per_call "$program" generated)"
    hand="$(per_call "$program" hand)"
    numeric="$(per_call "$program" numeric)"
    dual="$(per_call "$program" dual)"
    ratio="$(awk -v g="$generated" -v h="$hand" 'BEGIN { printf "%.3f", g / h }')"
    echo "| $program | $generated | $hand | $ratio | $numeric | $dual |"
done
