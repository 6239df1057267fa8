#!/usr/bin/env bash
# Runs GradBench's evals against this tool and against GradBench's C++ `manual` tool, one
# after the other, at the evals' default workloads, and prints the comparison.
#
#   gradbench/run.sh GRADBENCH_CLONE [OUT_DIR] [EVAL...]
#
# GRADBENCH_CLONE is a checkout of github.com/gradbench/gradbench with its CLI built
# (`cargo build --release -p gradbench`), `tools/manual` made, and PYTHON (default: python3)
# a Python with numpy, scipy, pydantic and dataclasses-json. See README.md, "GradBench".
# ARGS_<eval> adds arguments to that eval (ARGS_ht="--max 11": workloads up to hand11).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gb="$(cd "$1" && pwd)"
out="${2:-/tmp/gradbench-run}"
shift $(( $# < 2 ? $# : 2 ))
evals=("$@")
[ ${#evals[@]} -gt 0 ] || evals=(hello lse llsq gmm det ode kmeans ba ht lstm)
py="${PYTHON:-python3}"
tool="$here/../target/release/backprop-gradbench"
[ -x "$tool" ] || { echo "build it first: cargo build --release -p backprop-gradbench" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$gb"  # the evals and cpp.py find tools/manual/bin relative to the clone
export PYTHONPATH="$gb/python/gradbench${PYTHONPATH:+:$PYTHONPATH}"
for eval in "${evals[@]}"; do
    mkdir -p "$out/$eval"
    args_var="ARGS_$eval"
    args="${!args_var:-}"
    for name in backprop manual; do
        if [ "$name" = backprop ]; then cmd="$tool"; else cmd="$py python/gradbench/gradbench/cpp.py manual"; fi
        ./target/release/gradbench run \
            --eval "$py python/gradbench/gradbench/evals/$eval/run.py $args" \
            --tool "$cmd" -o "$out/$eval/$name.jsonl" || true
    done
done
"$py" "$here/summary.py" "$out" "${evals[@]}"
