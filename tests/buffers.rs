//! Local buffers written by index (`let mut h = vec![0.0; n];`, `[0.0; N]`) and read later:
//! hidden layers, recurrences, per-sample scores; checked against dual numbers and central
//! differences.

// Index loops are the form `#[backprop]` differentiates (iterator adaptors are not supported).
#![allow(clippy::needless_range_loop, clippy::assign_op_pattern)]

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual64, DualNum};

/// A two-layer net on one sample in scalar loops: `h = relu(W1·x + b1)`, `out = w2·h`.
#[backprop(wrt(w1, b1, w2))]
fn hidden_layer(w1: &[f64], b1: &[f64], w2: &[f64], x: &[f64], n_hidden: usize) -> f64 {
    let d = x.len();
    let mut h = vec![0.0; n_hidden];
    for j in 0..n_hidden {
        let mut s = b1[j];
        for i in 0..d {
            s += w1[j * d + i] * x[i];
        }
        h[j] = s.max(0.0);
    }
    let mut out = 0.0;
    for j in 0..n_hidden {
        out += w2[j] * h[j];
    }
    out
}

#[test]
fn hidden_layer_buffer() {
    let (d, nh) = (3, 4);
    let x = [1.0, 0.5, -0.5];
    let w1: Vec<f64> = (0..d * nh)
        .map(|k| ((k * 7 % 11) as f64 - 5.0) / 6.0)
        .collect();
    let b1 = [0.9, -0.2, 1.3, 0.5];
    let w2 = [0.7, -0.4, 1.2, 0.9];
    let reference = |v: &[Dual64]| {
        let (w1, b1, w2) = (&v[..12], &v[12..16], &v[16..20]);
        let mut out = c(0.0);
        for j in 0..4 {
            let mut s = b1[j];
            for i in 0..3 {
                s += w1[j * 3 + i] * x[i];
            }
            let h = if s.re > 0.0 { s } else { c(0.0) };
            out += w2[j] * h;
        }
        out
    };
    let at: Vec<f64> = w1.iter().chain(&b1).chain(&w2).copied().collect();
    assert_gradient_exact(
        "hidden_layer",
        &at,
        hidden_layer_grad(&w1, &b1, &w2, &x, nh),
        dual_gradient(reference, &at),
        |p| hidden_layer(&p[..12], &p[12..16], &p[16..20], &x, nh),
        1e-13,
    );
    let (_, (d_w1, _, _)) = hidden_layer_grad(&w1, &b1, &w2, &x, nh);
    // The data make several hidden units active, so the test is not vacuous.
    assert!(
        d_w1.chunks(3).filter(|row| row[0] != 0.0).count() >= 3,
        "{d_w1:?}"
    );
    let source = hidden_layer_backward_source();
    check_snapshot("hidden_layer_buffer", source);
    // Written once per element: the element's gradient flows on without a reset. The reverse
    // reads each unit's pre-activation (the `max` gate's operand): kept on one tape, one value
    // per unit, instead of running the inner loop over the inputs again.
    assert!(source.contains("let d_h_max = d_h[j];"), "{source}");
    assert!(!source.contains("d_h[j] = 0.0"), "{source}");
    assert_eq!(source.matches("Tape::new()").count(), 1, "{source}");
    assert_eq!(source.matches("for i in 0..d").count(), 1, "{source}");
}

/// A recurrence kept in a buffer: `hs[t]` from `hs[t - 1]`, read again after the loop.
#[backprop(wrt(w, x))]
fn states(w: f64, x: &[f64]) -> f64 {
    let n = x.len();
    let mut hs = vec![0.0; n + 1];
    for t in 1..=n {
        hs[t] = (hs[t - 1] * w + x[t - 1]).tanh();
    }
    let mut loss = 0.0;
    for t in 1..=n {
        loss += hs[t] * hs[t];
    }
    loss
}

/// The same recurrence running backwards through the buffer.
#[backprop(wrt(w, x))]
fn states_reversed(w: f64, x: &[f64]) -> f64 {
    let n = x.len();
    let mut hs = vec![0.0; n + 1];
    for t in (0..n).rev() {
        hs[t] = (hs[t + 1] * w + x[t]).tanh();
    }
    hs[0] * hs[1] + hs[n - 1]
}

#[test]
fn recurrence_in_a_buffer() {
    let x = [0.5, -1.0, 0.8, 0.3];
    let forward = |v: &[Dual64]| {
        let mut hs = [c(0.0); 5];
        for t in 1..=4 {
            hs[t] = (hs[t - 1] * v[0] + v[t]).tanh();
        }
        (1..=4).fold(c(0.0), |acc, t| acc + hs[t] * hs[t])
    };
    let backward = |v: &[Dual64]| {
        let mut hs = [c(0.0); 5];
        for t in (0..4).rev() {
            hs[t] = (hs[t + 1] * v[0] + v[t + 1]).tanh();
        }
        hs[0] * hs[1] + hs[3]
    };
    for w in [0.9, -1.3] {
        let at = [w, x[0], x[1], x[2], x[3]];
        let (value, (dw, dx)) = states_grad(w, &x);
        let mut flat = vec![dw];
        flat.extend(dx);
        assert_gradient_exact(
            "states",
            &at,
            (value, flat),
            dual_gradient(forward, &at),
            |p| states(p[0], &p[1..]),
            1e-13,
        );
        let (value, (dw, dx)) = states_reversed_grad(w, &x);
        let mut flat = vec![dw];
        flat.extend(dx);
        assert_gradient_exact(
            "states_reversed",
            &at,
            (value, flat),
            dual_gradient(backward, &at),
            |p| states_reversed(p[0], &p[1..]),
            1e-13,
        );
    }
    let source = states_backward_source();
    check_snapshot("recurrence_buffer", source);
    // Every value the reverse pass reads is still in the buffer: no tape, no reset.
    assert!(!source.contains("Tape"), "{source}");
    assert!(!source.contains("= 0.0;\n        }"), "{source}");
}

/// A fixed-size buffer at literal indices, in f32; an element read before a different one is
/// written.
#[backprop]
fn staged_buffer(a: f32, b: f32) -> f32 {
    let mut p = [0.0; 3];
    p[0] = a * b;
    p[1] = p[0].sin() + b;
    p[2] = p[1] * p[0];
    p[2] - p[1]
}

#[test]
fn literal_indices_f32() {
    let reference = |v: &[num_dual::Dual32]| {
        let p0 = v[0] * v[1];
        let p1 = p0.sin() + v[1];
        p1 * p0 - p1
    };
    for at in [[0.7f32, -1.2], [1.5, 0.4]] {
        assert_gradient_exact(
            "staged_buffer",
            &at,
            staged_buffer_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| staged_buffer(p[0], p[1]),
            1e-5,
        );
    }
    let source = staged_buffer_backward_source();
    assert!(
        source.contains("let mut p: [f32; 3] = [0.0; 3];"),
        "{source}"
    );
    // Each element is written once: its gradient is not reset.
    assert!(!source.contains("= 0.0;"), "{source}");
}

/// An element written twice: the first value is overwritten, so it gets no gradient.
#[backprop]
fn overwritten(a: f64, b: f64) -> f64 {
    let mut h = [0.0; 2];
    h[0] = a * a;
    h[1] = b;
    h[0] = a * b;
    h[0] * h[1]
}

#[test]
fn overwritten_element_gets_no_gradient() {
    let (a, b) = (1.5, -0.5);
    let (value, (da, db)) = overwritten_grad(a, b);
    assert_eq!(value, a * b * b);
    // Closed form of a·b²: the overwritten a² contributes nothing.
    assert_eq!((da, db), (b * b, 2.0 * a * b));
    assert!(overwritten_backward_source().contains("d_h[0] = 0.0;"));
}

/// The naive softmax loss with per-sample buffers: scores accumulated with `+=` in nested
/// loops, their max, and the exponentials written and read in one loop.
#[backprop(wrt(w))]
fn softmax_buffers(w: &[f64], x: &[f64], y: &[usize], n: usize, d: usize, c: usize) -> f64 {
    let mut loss = 0.0;
    for i in 0..n {
        let mut scores = vec![0.0; c];
        for k in 0..c {
            for j in 0..d {
                scores[k] += x[i * d + j] * w[j * c + k];
            }
        }
        let mut m = scores[0];
        for k in 1..c {
            m = m.max(scores[k]);
        }
        let mut e = vec![0.0; c];
        let mut total = 0.0;
        for k in 0..c {
            e[k] = (scores[k] - m).exp();
            total += e[k];
        }
        loss -= (e[y[i]] / total).ln();
    }
    loss / n as f64
}

#[test]
fn naive_softmax_with_buffers() {
    let (n, d, k) = (5, 4, 3);
    let x: Vec<f64> = (0..n * d)
        .map(|i| ((i * 5 % 9) as f64 - 4.0) / 3.0)
        .collect();
    let w: Vec<f64> = (0..d * k)
        .map(|i| ((i * 7 % 13) as f64 - 6.0) / 10.0)
        .collect();
    let y = [0, 2, 1, 1, 0];
    // The closed form of the notes: dW = Xᵀ (softmax(XW) − onehot(y)) / N.
    let mut dw = vec![0.0; d * k];
    let mut value = 0.0;
    for i in 0..n {
        let scores: Vec<f64> = (0..k)
            .map(|c| (0..d).map(|j| x[i * d + j] * w[j * k + c]).sum())
            .collect();
        let total: f64 = scores.iter().map(|s| s.exp()).sum();
        value -= (scores[y[i]].exp() / total).ln();
        for c in 0..k {
            let p = scores[c].exp() / total - if c == y[i] { 1.0 } else { 0.0 };
            for j in 0..d {
                dw[j * k + c] += x[i * d + j] * p / n as f64;
            }
        }
    }
    value /= n as f64;
    assert_gradient_exact(
        "softmax_buffers",
        &w,
        softmax_buffers_grad(&w, &x, &y, n, d, k),
        (value, dw),
        |p| softmax_buffers(p, &x, &y, n, d, k),
        1e-12,
    );
}

/// `-=` into a buffer inside a loop, a write in each arm of a branch, and a buffer of `f32`.
#[backprop(wrt(a))]
fn branches_and_subtraction(a: &[f32], t: f32) -> f32 {
    let n = a.len();
    let mut h = vec![0.0; n];
    for i in 0..n {
        if a[i] > t {
            h[i] = a[i] * a[i];
        } else {
            h[i] = 0.5 * a[i];
        }
        h[i] -= t * a[i];
    }
    let mut s = 0.0;
    for i in 0..n {
        s += h[i] * (i as f32 + 1.0);
    }
    s
}

#[test]
fn branches_and_subtraction_f32() {
    let a = [0.5f32, -1.0, 2.0, 0.1];
    let t = 0.3;
    let reference = |v: &[num_dual::Dual32]| {
        let mut s = c(0.0f32);
        for i in 0..4 {
            let h = if v[i].re > t { v[i] * v[i] } else { v[i] * 0.5 } - v[i] * t;
            s += h * (i as f32 + 1.0);
        }
        s
    };
    assert_gradient_exact(
        "branches_and_subtraction",
        &a,
        branches_and_subtraction_grad(&a, t),
        dual_gradient(reference, &a),
        |p| branches_and_subtraction(p, t),
        1e-5,
    );
}

/// A buffer filled by an accumulation loop and read after it: the lines after the loop read
/// the buffer, so the loop's reverse cannot run inside it before the buffer is full.
#[backprop(wrt(w))]
fn filled_then_read(w: f64, x: &[f64]) -> f64 {
    let n = x.len();
    let mut h = vec![0.0; n];
    let mut loss = 0.0;
    for i in 0..n {
        h[i] = (x[i] * w).sin();
        loss += h[i];
    }
    loss + h[0] * h[n - 1]
}

/// Accumulation of a non-linear recurrence per sample: the inner loop is taped inside the outer
/// loop's fused reverse.
#[backprop]
fn sum_of_recurrences(w: &[f64], x: &[f64]) -> f64 {
    let mut loss = 0.0;
    for i in 0..x.len() {
        let mut h = x[i];
        for k in 0..w.len() {
            h = (h * w[k]).tanh();
        }
        loss += h * h;
    }
    loss
}

#[test]
fn fused_loops_with_buffers_and_tapes() {
    let x = [0.5, -1.0, 0.8];
    let reference = |v: &[Dual64]| {
        let h: Vec<Dual64> = x.iter().map(|&xi| (v[0] * xi).sin()).collect();
        h.iter().fold(c(0.0), |a, &b| a + b) + h[0] * h[2]
    };
    let (value, dw) = filled_then_read_grad(0.7, &x);
    assert_gradient_exact(
        "filled_then_read",
        &[0.7],
        (value, vec![dw]),
        dual_gradient(reference, &[0.7]),
        |p| filled_then_read(p[0], &x),
        1e-13,
    );

    let w = [0.9, -1.1];
    let reference = |v: &[Dual64]| {
        let mut loss = c(0.0);
        for i in 0..3 {
            let mut h = v[2 + i];
            for k in 0..2 {
                h = (h * v[k]).tanh();
            }
            loss += h * h;
        }
        loss
    };
    let at = [w[0], w[1], x[0], x[1], x[2]];
    let (value, (dw, dx)) = sum_of_recurrences_grad(&w, &x);
    let flat: Vec<f64> = dw.into_iter().chain(dx).collect();
    assert_gradient_exact(
        "sum_of_recurrences",
        &at,
        (value, flat),
        dual_gradient(reference, &at),
        |p| sum_of_recurrences(&p[..2], &p[2..]),
        1e-13,
    );
    // The outer loop is fused (its reverse runs in the forward loop), the inner one taped.
    let source = sum_of_recurrences_backward_source();
    assert!(source.contains("Tape"), "{source}");
    assert_eq!(source.matches("for i in").count(), 1, "{source}");
}

/// A recurrence through a buffer in a loop that also accumulates (`out -= ..`): the gradient
/// of `buf[i]` arrives from the next iteration, so the loop's reverse cannot be fused into its
/// forward iterations (found by the differential test, program p1252 of one draw).
#[backprop]
fn recurrence_and_accumulation(w: &[f64], x: f64) -> f64 {
    let mut out = 0.0;
    let mut buf: [f64; 5] = [0.0; 5];
    buf[4] = x;
    for i in (0..4).rev() {
        buf[i] = (w[1] + buf[i + 1] * 1.25).tanh();
        out -= buf[i] * w[0];
    }
    buf[0] * 0.5 + out * 2.5
}

#[test]
fn a_recurrence_keeps_its_reverse_order_in_an_accumulating_loop() {
    let reference = |v: &[Dual64]| {
        let mut out = c(0.0);
        let mut buf = [c(0.0); 5];
        buf[4] = v[2];
        for i in (0..4).rev() {
            buf[i] = (v[1] + buf[i + 1] * 1.25).tanh();
            out -= buf[i] * v[0];
        }
        buf[0] * 0.5 + out * 2.5
    };
    for at in [[1.18, 0.98, -1.03], [-0.4, 0.2, 0.7]] {
        assert_gradient_exact(
            "recurrence_and_accumulation",
            &at,
            recurrence_and_accumulation_grad(&at[..2], at[2]),
            dual_gradient(reference, &at),
            |p| recurrence_and_accumulation(&p[..2], p[2]),
            1e-12,
        );
    }
}
