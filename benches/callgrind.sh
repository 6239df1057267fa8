#!/usr/bin/env bash
# Instruction counts of every benchmark variant, under valgrind's callgrind: unlike wall-clock
# times on a shared, noisy machine, these repeat exactly from run to run.
#
# Usage: benches/callgrind.sh [--only PROGRAMS] [N [T [L]]]   (N calls per scalar variant,
# default 1000; T calls per tensor, RNN or GMM variant, default 1; L calls per loop-program
# variant, default 100; PROGRAMS a comma-separated list such as `recurrence,dot,gmm`: only those
# programs, default all; `second_order` is the table of f, f_jvp, f_grad, f_hvp on staged and
# chain200, `hessian` the full Hessian from n f_hvp against num-dual's at n = 8, 64,
# `softmax_second_order` f_grad, f_hvp and a hand-written HVP of the softmax loss on ndarray,
# L calls each; `struct_params` the two-layer net's gradient with its parameters in a struct
# against four array parameters, T calls each)
#
# Builds the `count` binary (release profile, as `cargo bench` uses), then for each program and
# variant runs `count PROGRAM VARIANT N` under callgrind with collection switched on only inside
# `measure_PROGRAM_VARIANT` (the N calls and whatever they call: exp, sin, allocation), and
# prints markdown tables of instructions per call with the ratio generated / hand-written.
# A tensor call is tens of millions of instructions: one call each is exact enough, and the
# tensor part still takes about 30 s (mostly the agreement check `count` runs first).
set -euo pipefail

only=""
if [[ "${1:-}" == "--only" ]]; then
    only=",${2:?callgrind.sh: --only needs a list of programs},"
    shift 2
fi
n="${1:-1000}"
tensor_n="${2:-1}"
loop_n="${3:-100}"
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

# The programs of a table that --only selects (all without --only).
selected() {
    local program
    for program in "$@"; do
        if [[ -z "$only" || "$only" == *",$program,"* ]]; then
            echo "$program"
        fi
    done
}

# Instructions per call of one variant (N calls, or $3 if given).
per_call() {
    local program="$1" variant="$2" n="${3:-$n}" file="$out/$1.$2.out"
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

# The table of generated vs hand for the programs given, `calls` calls per variant.
pair_table() {
    local title="$1" calls="$2" programs program generated hand ratio
    shift 2
    programs="$(selected "$@")"
    [[ -n "$programs" ]] || return 0
    echo "$title programs (instructions per call, $calls call(s) per variant)"
    echo
    echo "| $title program | generated | hand | generated / hand |"
    echo "| --- | ---: | ---: | ---: |"
    for program in $programs; do
        generated="$(per_call "$program" generated "$calls")"
        hand="$(per_call "$program" hand "$calls")"
        ratio="$(awk -v g="$generated" -v h="$hand" 'BEGIN { printf "%.3f", g / h }')"
        echo "| $program | $generated | $hand | $ratio |"
    done
    echo
}

programs="$(selected staged neuron chain200)"
if [[ -n "$programs" ]]; then
    echo "instructions per call (callgrind, $n calls per variant)"
    echo
    echo "| program | generated | hand | generated / hand | numeric | dual |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for program in $programs; do
        generated="$(per_call "$program" generated)"
        hand="$(per_call "$program" hand)"
        numeric="$(per_call "$program" numeric)"
        dual="$(per_call "$program" dual)"
        ratio="$(awk -v g="$generated" -v h="$hand" 'BEGIN { printf "%.3f", g / h }')"
        echo "| $program | $generated | $hand | $ratio | $numeric | $dual |"
    done
    echo
fi

# Forward mode and second order (--only second_order): f itself, f_jvp, f_grad, f_hvp.
if [[ -n "$(selected second_order)" ]]; then
    echo "forward mode and second order (instructions per call, $n calls per variant)"
    echo
    echo "| program | forward | jvp | grad | hvp | jvp / forward | hvp / grad |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for program in staged chain200; do
        forward="$(per_call "$program" forward)"
        jvp="$(per_call "$program" jvp)"
        grad="$(per_call "$program" grad)"
        hvp="$(per_call "$program" hvp)"
        ratios="$(awk -v f="$forward" -v j="$jvp" -v g="$grad" -v h="$hvp" \
            'BEGIN { printf "%.2f | %.2f", j / f, h / g }')"
        echo "| $program | $forward | $jvp | $grad | $hvp | $ratios |"
    done
    echo
fi

# The full Hessian of the extended Rosenbrock function (--only hessian): n f_hvp calls with the
# unit vectors against num-dual's `hessian`, at n = 8 and 64 ($loop_n calls per variant).
if [[ -n "$(selected hessian)" ]]; then
    echo "full Hessian, extended Rosenbrock (instructions per call, $loop_n call(s) per variant)"
    echo
    echo "| n | n HVPs | num-dual hessian | HVPs / num-dual |"
    echo "| ---: | ---: | ---: | ---: |"
    for size in 8 64; do
        by_hvp="$(per_call "rosenbrock$size" hvp_hessian "$loop_n")"
        by_dual="$(per_call "rosenbrock$size" dual_hessian "$loop_n")"
        ratio="$(awk -v a="$by_hvp" -v b="$by_dual" 'BEGIN { printf "%.3f", a / b }')"
        echo "| $size | $by_hvp | $by_dual | $ratio |"
    done
    echo
fi

# Second order on ndarray (--only softmax_second_order): the softmax loss of a linear classifier
# at N = 256, D = 64, C = 10; f_grad, f_hvp and the closed-form HVP by hand ($loop_n calls each).
if [[ -n "$(selected softmax_second_order)" ]]; then
    echo "softmax loss, N = 256, D = 64, C = 10 (instructions per call, $loop_n call(s) per variant)"
    echo
    echo "| program | grad | hvp | hvp by hand | hvp / grad | hvp / hvp by hand | hvp by hand / grad |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    grad="$(per_call softmax_hvp grad "$loop_n")"
    hvp="$(per_call softmax_hvp hvp "$loop_n")"
    hand="$(per_call softmax_hvp hvp_hand "$loop_n")"
    ratios="$(awk -v g="$grad" -v h="$hvp" -v m="$hand" \
        'BEGIN { printf "%.2f | %.2f | %.2f", h / g, h / m, m / g }')"
    echo "| softmax_hvp | $grad | $hvp | $hand | $ratios |"
    echo
fi

pair_table loop "$loop_n" svm_naive recurrence call call_joint dot llsq
pair_table tensor "$tensor_n" rnn softmax two_layer affine_relu conv

# Struct parameters (--only struct_params): the two-layer net's gradient, `net: &TwoLayerNet`
# against four array parameters ($tensor_n call(s) per variant).
if [[ -n "$(selected struct_params)" ]]; then
    echo "struct parameters, two-layer net (instructions per call, $tensor_n call(s) per variant)"
    echo
    echo "| program | struct | arrays | struct / arrays |"
    echo "| --- | ---: | ---: | ---: |"
    with_struct="$(per_call struct_params struct "$tensor_n")"
    with_arrays="$(per_call struct_params arrays "$tensor_n")"
    ratio="$(awk -v s="$with_struct" -v a="$with_arrays" 'BEGIN { printf "%.4f", s / a }')"
    echo "| struct_params | $with_struct | $with_arrays | $ratio |"
    echo
fi

if [[ -n "$(selected gmm)" ]]; then
    echo "GMM, d = 10, K = 25, n = 1000 (instructions per call, $tensor_n call(s) per variant)"
    echo
    echo "| program | generated | hand | objective | generated / hand | generated / objective | hand / objective |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    generated="$(per_call gmm generated "$tensor_n")"
    hand="$(per_call gmm hand "$tensor_n")"
    objective="$(per_call gmm objective "$tensor_n")"
    ratios="$(awk -v g="$generated" -v h="$hand" -v o="$objective" \
        'BEGIN { printf "%.3f | %.2f | %.2f", g / h, g / o, h / o }')"
    echo "| gmm | $generated | $hand | $objective | $ratios |"
fi
