#!/usr/bin/env bash
# The two-layer net's gradient under JAX (`jax.jit(jax.value_and_grad(..))`, f64, CPU), on this
# machine's cores, beside `cargo bench -p backprop-bench --features backprop/parallel --
# two_layer` (the README's Benchmarks section compares the two). Makes a Python venv with JAX
# in target/jax-venv the first time (PyPI), then runs benches/jax/two_layer.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../target/jax-venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "jax[cpu]"
fi
exec "$venv/bin/python" "$here/jax/two_layer.py"
