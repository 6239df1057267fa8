"""The two-layer net's loss and gradient (benches/src/tensor.rs, `two_layer`) under
`jax.jit(jax.value_and_grad(..))`, in f64, on the same inputs (the same LCG), timed as
criterion times the Rust variants: warm-up, then the median of many batches of calls.

Run by benches/jax.sh, which makes the venv it needs.
"""

import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

N, D, H, C, REG = 256, 512, 256, 10, 0.05
MASK = (1 << 64) - 1


def data(rows, cols, seed):
    """`benches/src/tensor.rs::data`: entries in [-1, 1) from the same LCG."""
    state = (seed * 6364136223846793005 + 1442695040888963407) & MASK
    out = []
    for _ in range(rows * cols):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        out.append(((state >> 11) / float(1 << 53)) * 2.0 - 1.0)
    return jnp.array(out, dtype=jnp.float64).reshape(rows, cols)


def loss(w1, b1, w2, b2, x, y, reg):
    hidden = jax.nn.relu(x @ w1 + b1)
    scores = hidden @ w2 + b2
    log_probs = jax.nn.log_softmax(scores, axis=1)
    data_loss = -jnp.mean(log_probs[jnp.arange(x.shape[0]), y])
    return data_loss + 0.5 * reg * (jnp.sum(w1 * w1) + jnp.sum(w2 * w2))


def main():
    w1 = data(D, H, 5) * 0.05
    b1 = data(1, H, 6)[0] * 0.1
    w2 = data(H, C, 7) * 0.1
    b2 = data(1, C, 8)[0] * 0.1
    x = data(N, D, 9)
    y = jnp.array([(i * 7 + 3) % C for i in range(N)])
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
    value, _ = grad(w1, b1, w2, b2, x, y, REG)
    jax.block_until_ready(value)
    print(f"loss {float(value):.12f}")
    per_batch = 50
    times = []
    for _ in range(40):
        start = time.perf_counter()
        for _ in range(per_batch):
            out = grad(w1, b1, w2, b2, x, y, REG)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - start) / per_batch)
    print(f"jax {jax.__version__}, {jax.devices()}: median {statistics.median(times) * 1e6:.1f} µs per call "
          f"(min {min(times) * 1e6:.1f})")


if __name__ == "__main__":
    main()
