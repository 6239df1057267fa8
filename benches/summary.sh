#!/usr/bin/env bash
# Summarises the last `cargo bench -p backprop-bench` run: the median time of every variant
# (from criterion's target/criterion/*/*/new/estimates.json) and the ratio generated / hand,
# for the scalar programs, for the loop and tensor programs (generated and hand only), for the
# softmax loss's second order (f_grad, f_hvp, the HVP by hand: group softmax_second_order), for the
# two-layer net with its parameters in a struct against four arrays (group struct_params), and for
# the GMM program (generated, hand and the objective alone, with ADBench's gradient / objective
# ratios).
# A program whose group has not been run (e.g. after `cargo bench -p backprop-bench -- svm_naive`)
# is left out of its table.
#
# Usage: benches/summary.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/../Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
criterion="$target_dir/criterion"

# Median of one benchmark, in nanoseconds.
median() {
    local file="$criterion/$1/$2/new/estimates.json"
    [[ -f "$file" ]] || {
        echo "summary.sh: no $file; run cargo bench -p backprop-bench first" >&2
        exit 1
    }
    sed -n 's/.*"median":{"confidence_interval":{[^}]*},"point_estimate":\([-0-9.eE+]*\).*/\1/p' "$file"
}

# A duration in nanoseconds, in a readable unit.
human() {
    awk -v t="$1" 'BEGIN {
        if (t >= 1e6) printf "%.2f ms", t / 1e6;
        else if (t >= 1e3) printf "%.2f µs", t / 1e3;
        else printf "%.1f ns", t }'
}

echo "median time per call (criterion)"
echo
echo "| program | generated | hand | generated / hand | numeric | dual |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for program in staged neuron chain200; do
    [[ -f "$criterion/$program/generated/new/estimates.json" ]] || continue
    generated="$(median "$program" generated)"
    hand="$(median "$program" hand)"
    numeric="$(median "$program" numeric)"
    dual="$(median "$program" dual)"
    ratio="$(awk -v g="$generated" -v h="$hand" 'BEGIN { printf "%.3f", g / h }')"
    echo "| $program | $(human "$generated") | $(human "$hand") | $ratio | $(human "$numeric") | $(human "$dual") |"
done

echo
echo "| loop or tensor program | generated | hand | generated / hand |"
echo "| --- | ---: | ---: | ---: |"
for program in svm_naive recurrence dot rnn softmax two_layer affine_relu conv; do
    [[ -f "$criterion/$program/generated/new/estimates.json" ]] || continue
    generated="$(median "$program" generated)"
    hand="$(median "$program" hand)"
    ratio="$(awk -v g="$generated" -v h="$hand" 'BEGIN { printf "%.3f", g / h }')"
    echo "| $program | $(human "$generated") | $(human "$hand") | $ratio |"
done

if [[ -f "$criterion/softmax_second_order/hvp/new/estimates.json" ]]; then
    grad="$(median softmax_second_order grad)"
    hvp="$(median softmax_second_order hvp)"
    hand="$(median softmax_second_order hvp_hand)"
    ratios="$(awk -v g="$grad" -v h="$hvp" -v m="$hand" \
        'BEGIN { printf "%.2f | %.2f | %.2f", h / g, h / m, m / g }')"
    echo
    echo "| second order, softmax loss | grad | hvp | hvp by hand | hvp / grad | hvp / hvp by hand | hvp by hand / grad |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| softmax_second_order | $(human "$grad") | $(human "$hvp") | $(human "$hand") | $ratios |"
fi

if [[ -f "$criterion/struct_params/struct/new/estimates.json" ]]; then
    with_struct="$(median struct_params struct)"
    with_arrays="$(median struct_params arrays)"
    ratio="$(awk -v s="$with_struct" -v a="$with_arrays" 'BEGIN { printf "%.3f", s / a }')"
    echo
    echo "| two-layer net gradient | struct | four arrays | struct / arrays |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| struct_params | $(human "$with_struct") | $(human "$with_arrays") | $ratio |"
fi

if [[ -f "$criterion/gmm/generated/new/estimates.json" ]]; then
    generated="$(median gmm generated)"
    hand="$(median gmm hand)"
    objective="$(median gmm objective)"
    ratios="$(awk -v g="$generated" -v h="$hand" -v o="$objective" \
        'BEGIN { printf "%.3f | %.2f | %.2f", g / h, g / o, h / o }')"
    echo
    echo "| GMM program | generated | hand | objective | generated / hand | generated / objective | hand / objective |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| gmm | $(human "$generated") | $(human "$hand") | $(human "$objective") | $ratios |"
fi
