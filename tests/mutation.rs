//! Mutation: buffers written in place after they were read (`scores[j] -= max`, `mu[j] /= n`,
//! `g[j] *= s`), reused across loop iterations, recurrences through a buffer indexed by two loop
//! variables, conditions on elements the branch rewrites. Each function is written the way it
//! is written in numpy or C++, checked against dual numbers and central differences.

// Index loops, `a = a * b`: the forms the ports are written in.
#![allow(
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    clippy::manual_memcpy,
    clippy::useless_vec
)]

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

/// Cross-entropy of one row's softmax, the max subtracted in place as in numpy
/// (`scores -= scores.max()`).
#[backprop(wrt(w))]
fn softmax_row_loss(w: &[f64], x: &[f64], y: usize, classes: usize) -> f64 {
    let d = x.len();
    let mut scores = vec![0.0; classes];
    for j in 0..classes {
        for i in 0..d {
            scores[j] += w[j * d + i] * x[i];
        }
    }
    let mut max = scores[0];
    for j in 1..classes {
        max = max.max(scores[j]);
    }
    for j in 0..classes {
        scores[j] -= max;
    }
    let mut sum = 0.0;
    for j in 0..classes {
        sum += scores[j].exp();
    }
    sum.ln() - scores[y]
}

fn softmax_row_reference(w: &[Dual64], x: &[f64], y: usize, classes: usize) -> Dual64 {
    let d = x.len();
    let mut scores = vec![c(0.0); classes];
    for j in 0..classes {
        for i in 0..d {
            scores[j] += w[j * d + i] * x[i];
        }
    }
    let mut max = scores[0];
    for j in 1..classes {
        if scores[j].re > max.re {
            max = scores[j];
        }
    }
    let mut sum = c(0.0);
    for j in 0..classes {
        sum += (scores[j] - max).exp();
    }
    sum.ln() - (scores[y] - max)
}

#[test]
fn max_subtracted_in_place() {
    let x = [0.5, -1.0, 2.0];
    for (y, seed) in [(0, 1.0), (2, -0.7), (1, 0.3)] {
        let w: Vec<f64> = (0..12)
            .map(|k| (k as f64 * 1.37 + seed).sin() * 0.9)
            .collect();
        assert_gradient_exact(
            "softmax_row_loss",
            &w,
            softmax_row_loss_grad(&w, &x, y, 4),
            dual_gradient(|v: &[Dual64]| softmax_row_reference(v, &x, y, 4), &w),
            |p| softmax_row_loss(p, &x, y, 4),
            1e-12,
        );
    }
    let source = softmax_row_loss_backward_source();
    check_snapshot("softmax_in_place", source);
    // Only the in-place subtraction overwrites values that the reverse pass reads before it
    // (the max loop's): one tape, pushed there only, not where the scores are summed up.
    assert_eq!(source.matches("Tape::new()").count(), 3, "{source}");
    assert_eq!(source.matches("scores_tape.push(").count(), 1, "{source}");
    assert_eq!(source.matches("scores_tape.pop()").count(), 1, "{source}");
}

/// Batch-norm statistics as C++ computes them: sums accumulated in place, then divided in
/// place (`mu[j] /= n`), then a loss of the normalised values.
#[backprop(wrt(x, gamma, beta))]
fn batchnorm_loss(x: &[f64], gamma: &[f64], beta: &[f64], n: usize) -> f64 {
    let d = gamma.len();
    let mut mu = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            mu[j] += x[i * d + j];
        }
    }
    for j in 0..d {
        mu[j] /= n as f64;
    }
    let mut var = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            let xc = x[i * d + j] - mu[j];
            var[j] += xc * xc;
        }
    }
    for j in 0..d {
        var[j] /= n as f64;
        var[j] += 1e-5;
        var[j] = var[j].sqrt();
    }
    let mut loss = 0.0;
    for i in 0..n {
        for j in 0..d {
            let out = gamma[j] * (x[i * d + j] - mu[j]) / var[j] + beta[j];
            loss += out * out * (j as f64 + 1.0) + out;
        }
    }
    loss
}

fn batchnorm_reference(v: &[Dual64], n: usize, d: usize) -> Dual64 {
    let (x, gamma, beta) = (&v[..n * d], &v[n * d..n * d + d], &v[n * d + d..]);
    let mut loss = c(0.0);
    for j in 0..d {
        let mut mu = c(0.0);
        for i in 0..n {
            mu += x[i * d + j];
        }
        mu = mu / n as f64;
        let mut var = c(0.0);
        for i in 0..n {
            var += (x[i * d + j] - mu).powi(2);
        }
        let sd = (var / n as f64 + 1e-5).sqrt();
        for i in 0..n {
            let out = gamma[j] * (x[i * d + j] - mu) / sd + beta[j];
            loss += out * out * (j as f64 + 1.0) + out;
        }
    }
    loss
}

#[test]
fn statistics_divided_in_place() {
    let (n, d) = (4, 3);
    let at: Vec<f64> = (0..n * d + 2 * d)
        .map(|k| (k as f64 * 0.71).cos() * 1.3 + 0.1)
        .collect();
    let (x, gamma, beta) = (&at[..n * d], &at[n * d..n * d + d], &at[n * d + d..]);
    assert_gradient_exact(
        "batchnorm_loss",
        &at,
        batchnorm_loss_grad(x, gamma, beta, n),
        dual_gradient(|v: &[Dual64]| batchnorm_reference(v, n, d), &at),
        |p| batchnorm_loss(&p[..n * d], &p[n * d..n * d + d], &p[n * d + d..], n),
        1e-11,
    );
}

/// A scratch buffer declared once and rewritten for every sample, as the GMM objective's C++
/// does with `xcentered`: Gaussian log-likelihood of the samples under a diagonal model.
#[backprop(wrt(mu, w))]
fn scratch_reused(mu: &[f64], w: &[f64], x: &[f64]) -> f64 {
    let d = mu.len();
    let n = x.len() / d;
    let mut xc = vec![0.0; d];
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..d {
            xc[j] = x[i * d + j] - mu[j];
        }
        let mut s = 0.0;
        for j in 0..d {
            s += xc[j] * xc[j] * w[j];
        }
        total += (-0.5 * s).exp();
    }
    total.ln()
}

#[test]
fn scratch_buffer_reused_across_samples() {
    let x = [0.3, -0.2, 1.1, 0.8, -0.5, 0.0, 1.5, 0.4, -1.0];
    let at = [0.2, 0.1, -0.3, 0.9, 1.4, 0.6];
    let reference = |v: &[Dual64]| {
        let (mu, w) = (&v[..3], &v[3..]);
        let mut total = c(0.0);
        for i in 0..3 {
            let mut s = c(0.0);
            for j in 0..3 {
                let xc = -mu[j] + x[i * 3 + j];
                s += xc * xc * w[j];
            }
            total += (s * -0.5).exp();
        }
        total.ln()
    };
    assert_gradient_exact(
        "scratch_reused",
        &at,
        scratch_reused_grad(&at[..3], &at[3..], &x),
        dual_gradient(reference, &at),
        |p| scratch_reused(&p[..3], &p[3..], &x),
        1e-12,
    );
}

/// An Elman RNN over scalar loops: the hidden states of every step in one buffer indexed by
/// two loop variables, `hs[t * h + j]` from `hs[(t - 1) * h + k]`.
#[backprop(wrt(wx, wh, b))]
fn rnn_scalar(wx: &[f64], wh: &[f64], b: &[f64], xs: &[f64], h: usize) -> f64 {
    let steps = xs.len();
    let mut hs = vec![0.0; (steps + 1) * h];
    for t in 1..=steps {
        for j in 0..h {
            let mut a = wx[j] * xs[t - 1] + b[j];
            for k in 0..h {
                a += wh[j * h + k] * hs[(t - 1) * h + k];
            }
            hs[t * h + j] = a.tanh();
        }
    }
    let mut loss = 0.0;
    for j in 0..h {
        loss += hs[steps * h + j] * (j as f64 + 1.0);
    }
    loss
}

fn rnn_reference(v: &[Dual64], xs: &[f64], h: usize) -> Dual64 {
    let (wx, wh, b) = (&v[..h], &v[h..h + h * h], &v[h + h * h..]);
    let mut state = vec![c(0.0); h];
    for &x in xs {
        let mut next = vec![c(0.0); h];
        for j in 0..h {
            let mut a = wx[j] * x + b[j];
            for k in 0..h {
                a += wh[j * h + k] * state[k];
            }
            next[j] = a.tanh();
        }
        state = next;
    }
    let mut loss = c(0.0);
    for j in 0..h {
        loss += state[j] * (j as f64 + 1.0);
    }
    loss
}

#[test]
fn recurrence_through_a_buffer_with_two_indices() {
    let h = 3;
    let xs = [0.5, -1.0, 0.8, 0.2];
    let at: Vec<f64> = (0..h + h * h + h)
        .map(|k| (k as f64 * 0.9 + 0.4).sin() * 0.7)
        .collect();
    let (wx, wh, b) = (&at[..h], &at[h..h + h * h], &at[h + h * h..]);
    assert_gradient_exact(
        "rnn_scalar",
        &at,
        rnn_scalar_grad(wx, wh, b, &xs, h),
        dual_gradient(|v: &[Dual64]| rnn_reference(v, &xs, h), &at),
        |p| rnn_scalar(&p[..h], &p[h..h + h * h], &p[h + h * h..], &xs, h),
        1e-12,
    );
}

/// Literal indices at the top level: an element read, overwritten with a function of what was
/// read, read again; `*=` of an element read before.
#[backprop]
fn overwritten_elements(x: f64, y: f64) -> f64 {
    let mut h = [0.0; 2];
    h[0] = x * y;
    let a = h[0] * h[0];
    h[0] = a.sin() + h[0];
    h[1] = h[0] * 2.0;
    h[1] *= h[0];
    h[0] /= y;
    h[0] + h[1] * a
}

#[test]
fn elements_overwritten_after_reads() {
    let reference = |v: &[Dual64]| {
        let (x, y) = (v[0], v[1]);
        let h0 = x * y;
        let a = h0 * h0;
        let h0 = a.sin() + h0;
        let h1 = h0 * 2.0;
        let h1 = h1 * h0;
        let h0 = h0 / y;
        h0 + h1 * a
    };
    for at in [[0.7, 1.3], [-1.1, 0.4], [2.0, -0.6]] {
        assert_gradient_exact(
            "overwritten_elements",
            &at,
            overwritten_elements_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| overwritten_elements(p[0], p[1]),
            1e-12,
        );
    }
}

/// Gradient clipping written in place, and a condition on an element that its branch
/// rewrites: `if g[j] > limit { g[j] = limit; }`, then `g[j] *= scale`.
#[backprop(wrt(w))]
fn clipped_in_place(w: &[f64], limit: f64) -> f64 {
    let n = w.len();
    let mut g = vec![0.0; n];
    for j in 0..n {
        g[j] = w[j] * w[j] - 0.5;
    }
    let mut scale = 0.0;
    for j in 0..n {
        if g[j] > limit {
            g[j] = limit;
        }
        scale += g[j];
    }
    for j in 0..n {
        g[j] *= scale;
    }
    let mut out = 0.0;
    for j in 0..n {
        out += g[j] * w[j];
    }
    out
}

#[test]
fn condition_on_an_element_its_branch_rewrites() {
    let limit = 0.3;
    let reference = |v: &[Dual64]| {
        let g: Vec<Dual64> = v
            .iter()
            .map(|&w| {
                let g = w * w - 0.5;
                if g.re > limit { c(limit) } else { g }
            })
            .collect();
        let scale = g.iter().fold(c(0.0), |s, &g| s + g);
        g.iter()
            .zip(v)
            .fold(c(0.0), |o, (&g, &w)| o + g * scale * w)
    };
    let at = [0.2, 1.1, -0.9, 0.5, -1.4];
    assert_gradient_exact(
        "clipped_in_place",
        &at,
        clipped_in_place_grad(&at, limit),
        dual_gradient(reference, &at),
        |p| clipped_in_place(p, limit),
        1e-12,
    );
}

/// A `while` loop that rewrites and reads one buffer: a running state in `s[0]`, `s[1]`.
#[backprop(wrt(x))]
fn while_rewrites(x: &[f32], steps: usize) -> f32 {
    let mut s = [0.0f32; 2];
    s[0] = x[0];
    s[1] = x[1];
    let mut t = 0;
    while t < steps {
        let a = s[0] * 0.9 + s[1].sin();
        s[1] = s[0] * s[1];
        s[0] = a;
        t += 1;
    }
    s[0] + s[1]
}

#[test]
fn a_while_loop_rewrites_a_buffer_f32() {
    let reference = |v: &[Dual32]| {
        let (mut s0, mut s1) = (v[0], v[1]);
        for _ in 0..4 {
            let a = s0 * 0.9 + s1.sin();
            s1 = s0 * s1;
            s0 = a;
        }
        s0 + s1
    };
    for at in [[0.4f32, 0.7], [-0.3, 0.5]] {
        assert_gradient_exact(
            "while_rewrites",
            &at,
            while_rewrites_grad(&at, 4),
            dual_gradient(reference, &at),
            |p| while_rewrites(p, 4),
            1e-5,
        );
    }
}

// Formerly compile errors (the reverse pass needed overwritten values): now differentiated.

/// Iteration `i` reads `h[i + 1]` before iteration `i + 1` overwrites it.
#[backprop]
fn read_ahead(a: &[f64]) -> f64 {
    let n = a.len();
    let mut h = vec![1.0; n + 1];
    for i in 0..n {
        h[i] = h[i + 1] * a[i] + h[i];
    }
    h[0] * h[1] + h[n - 1]
}

/// `h[0]` halved in place until it is at most 1.
#[backprop]
fn halve_while(x: f64) -> f64 {
    let mut h = vec![0.0; 1];
    h[0] = x;
    while h[0] > 1.0 {
        h[0] = h[0] * 0.5;
    }
    h[0] * x
}

/// The value `t` was computed from is overwritten.
#[backprop]
fn overwrite_after_read(a: f64) -> f64 {
    let mut h = [0.0; 2];
    h[0] = a * a;
    let t = h[0].sin();
    h[0] = t * 2.0;
    h[0]
}

/// `h[i] *= a[i]` of the element just written.
#[backprop]
fn scale_in_place(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    let mut h = vec![0.0; n];
    for i in 0..n {
        h[i] = b[i];
        h[i] *= a[i];
    }
    h[0] + h[1] * h[2]
}

/// The course's naive softmax loss with the scores buffer declared once, before the sample
/// loop, and rewritten for every sample.
#[backprop(wrt(w))]
fn softmax_loss_naive(w: &[f64], x: &[f64], y: &[usize], d: usize, c: usize) -> f64 {
    let n = y.len();
    let mut scores = vec![0.0; c];
    let mut loss = 0.0;
    for i in 0..n {
        for j in 0..c {
            let mut s = 0.0;
            for k in 0..d {
                s += x[i * d + k] * w[k * c + j];
            }
            scores[j] = s;
        }
        let mut sum_exp = 0.0;
        for j in 0..c {
            sum_exp += scores[j].exp();
        }
        loss += sum_exp.ln() - scores[y[i]];
    }
    loss / n as f64
}

#[test]
fn formerly_rejected_buffers() {
    let a = [0.7, -1.2, 0.4];
    let reference = |v: &[Dual64]| {
        let mut h = [c(1.0); 4];
        for i in 0..3 {
            h[i] = h[i + 1] * v[i] + h[i];
        }
        h[0] * h[1] + h[2]
    };
    assert_gradient_exact(
        "read_ahead",
        &a,
        read_ahead_grad(&a),
        dual_gradient(reference, &a),
        read_ahead,
        1e-12,
    );
    for x in [0.6, 3.0, 9.5] {
        let reference = |v: &[Dual64]| {
            let mut h = v[0];
            while h.re > 1.0 {
                h = h * 0.5;
            }
            h * v[0]
        };
        assert_gradient_exact(
            "halve_while",
            &[x],
            halve_while_grad(x),
            dual_gradient(reference, &[x]),
            |p| halve_while(p[0]),
            1e-12,
        );
        let reference = |v: &[Dual64]| (v[0] * v[0]).sin() * 2.0;
        assert_gradient_exact(
            "overwrite_after_read",
            &[x],
            overwrite_after_read_grad(x),
            dual_gradient(reference, &[x]),
            |p| overwrite_after_read(p[0]),
            1e-12,
        );
    }
    let at = [1.5, -0.5, 2.0, 3.0, 4.0, -1.0];
    let reference = |v: &[Dual64]| v[3] * v[0] + v[4] * v[1] * v[5] * v[2];
    let (value, (da, db)) = scale_in_place_grad(&at[..3], &at[3..]);
    let flat: Vec<f64> = da.into_iter().chain(db).collect();
    assert_gradient_exact(
        "scale_in_place",
        &at,
        (value, flat),
        dual_gradient(reference, &at),
        |p| scale_in_place(&p[..3], &p[3..]),
        1e-12,
    );
    let (d, classes) = (3, 4);
    let x = [1.0, -0.5, 0.3, 0.2, 0.9, -1.1, -0.4, 0.0, 0.8];
    let y = [2, 0, 3];
    let w: Vec<f64> = (0..d * classes)
        .map(|k| (k as f64 * 0.83).sin() * 0.6)
        .collect();
    let reference = |v: &[Dual64]| {
        let mut loss = c(0.0);
        for i in 0..3 {
            let scores: Vec<Dual64> = (0..classes)
                .map(|j| (0..d).fold(c(0.0), |s, k| s + v[k * classes + j] * x[i * d + k]))
                .collect();
            let sum = scores.iter().fold(c(0.0), |s, e| s + e.exp());
            loss += sum.ln() - scores[y[i]];
        }
        loss / 3.0
    };
    assert_gradient_exact(
        "softmax_loss_naive",
        &w,
        softmax_loss_naive_grad(&w, &x, &y, d, classes),
        dual_gradient(reference, &w),
        |p| softmax_loss_naive(p, &x, &y, d, classes),
        1e-12,
    );
}

// Found by the mutation programs of the differential test (tests/differential.rs,
// `MUTATION_FROM`).

/// Loop bodies with an `if` whose condition reads a buffer element its branch rewrites (the
/// macro computes the condition first, `let cond = b[0] <= x;`), followed by a `return` guard,
/// by a `break` guard that runs `s *= 2.0;` first, or by a `break` guard whose condition reads
/// a value computed after the `if`. The generated forward loop used to put the guard right
/// after the `if`, before the lines between them, and read or copy values before they existed
/// (`returned_1 = returned_3;` before `let returned_3 = ..`, `s_3`, `if d > 1.0 { .. }` before
/// `let d = ..`): rustc said "cannot find value". Generator: `GUARD_AFTER_CAPTURED_CONDITION`
/// in tests/differential.rs.
#[backprop]
fn clip_then_return(x: f64, y: f64) -> f64 {
    let mut b = [0.0; 2];
    b[0] = y;
    for _i in 0..3 {
        if b[0] <= x {
            b[0] = b[0] * x;
        }
        if b[0] > 1.0 {
            return b[0] * y;
        }
    }
    b[0] + x
}

#[backprop]
fn clip_then_break(x: f64, y: f64) -> f64 {
    let mut b = [0.0; 2];
    b[0] = y;
    let mut s = x;
    for _i in 0..3 {
        if b[0] <= x {
            b[0] = b[0] * x;
        }
        if b[0] > 1.0 {
            s *= 2.0;
            break;
        }
        s += b[0];
    }
    b[0] + s
}

#[backprop]
fn clip_then_break_on_a_later_value(x: f64, y: f64) -> f64 {
    let mut b = [0.0; 2];
    b[0] = y;
    for _i in 0..3 {
        if b[0] <= x {
            b[0] = b[0] * x;
        }
        let d = b[0] * y;
        if d > 1.0 {
            break;
        }
    }
    b[0] + x
}

#[test]
fn guard_after_a_condition_on_a_rewritten_element() {
    // The three functions on dual numbers; `exit` picks the guard.
    fn reference(v: &[Dual64], exit: u8) -> Dual64 {
        let (x, y) = (v[0], v[1]);
        let mut b0 = y;
        let mut s = x;
        for _ in 0..3 {
            if b0.re <= x.re {
                b0 = b0 * x;
            }
            match exit {
                0 if b0.re > 1.0 => return b0 * y,
                1 if b0.re > 1.0 => {
                    s = s * 2.0;
                    break;
                }
                1 => s += b0,
                2 if (b0 * y).re > 1.0 => break,
                _ => {}
            }
        }
        if exit == 1 { b0 + s } else { b0 + x }
    }
    // Both paths: the guard taken at (2.0, 0.7), not at (0.8, 0.5) and (-0.5, 0.3).
    for at in [[0.8, 0.5], [2.0, 0.7], [-0.5, 0.3]] {
        assert_gradient_exact(
            "clip_then_return",
            &at,
            clip_then_return_grad(at[0], at[1]),
            dual_gradient(|v: &[Dual64]| reference(v, 0), &at),
            |p| clip_then_return(p[0], p[1]),
            1e-12,
        );
        assert_gradient_exact(
            "clip_then_break",
            &at,
            clip_then_break_grad(at[0], at[1]),
            dual_gradient(|v: &[Dual64]| reference(v, 1), &at),
            |p| clip_then_break(p[0], p[1]),
            1e-12,
        );
        assert_gradient_exact(
            "clip_then_break_on_a_later_value",
            &at,
            clip_then_break_on_a_later_value_grad(at[0], at[1]),
            dual_gradient(|v: &[Dual64]| reference(v, 2), &at),
            |p| clip_then_break_on_a_later_value(p[0], p[1]),
            1e-12,
        );
    }
}

/// ADBench's `Qtimesx` then `sqnorm`, per point, as its C++ writes them: `qx` declared once and
/// filled again for every point, the strict lower triangle of `Q` walked by a counter that
/// only the inner loop steps (`lparamsidx`), the log diagonal in `icf[..d]`.
#[backprop(wrt(icf, x))]
fn triangular_sqnorm(d: usize, icf: &[f64], x: &[f64]) -> f64 {
    let n = x.len() / d;
    let mut qx = vec![0.0; d];
    let mut total = 0.0;
    for p in 0..n {
        for id in 0..d {
            qx[id] = icf[id].exp() * x[p * d + id];
        }
        let mut lparamsidx = d;
        for i in 0..d {
            for j in i + 1..d {
                qx[j] += icf[lparamsidx] * x[p * d + i];
                lparamsidx += 1;
            }
        }
        let mut sqnorm = 0.0;
        for id in 0..d {
            sqnorm += qx[id] * qx[id];
        }
        total += (-0.5 * sqnorm).exp();
    }
    total.ln()
}

/// The same in f32.
#[backprop(wrt(icf, x))]
fn triangular_sqnorm_f32(d: usize, icf: &[f32], x: &[f32]) -> f32 {
    let n = x.len() / d;
    let mut qx = vec![0.0f32; d];
    let mut total = 0.0f32;
    for p in 0..n {
        for id in 0..d {
            qx[id] = icf[id].exp() * x[p * d + id];
        }
        let mut lparamsidx = d;
        for i in 0..d {
            for j in i + 1..d {
                qx[j] += icf[lparamsidx] * x[p * d + i];
                lparamsidx += 1;
            }
        }
        let mut sqnorm = 0.0f32;
        for id in 0..d {
            sqnorm += qx[id] * qx[id];
        }
        total += (-0.5 * sqnorm).exp();
    }
    total.ln()
}

/// `triangular_sqnorm` on dual numbers, `Q` unpacked into a dense lower-triangular matrix.
fn triangular_reference(d: usize, icf: &[Dual64], x: &[Dual64]) -> Dual64 {
    let n = x.len() / d;
    let mut q = vec![c(0.0); d * d];
    let mut next = d;
    for i in 0..d {
        q[i * d + i] = icf[i].exp();
        for j in i + 1..d {
            q[j * d + i] = icf[next];
            next += 1;
        }
    }
    let mut total = c(0.0);
    for p in 0..n {
        let mut sqnorm = c(0.0);
        for j in 0..d {
            let mut row = c(0.0);
            for i in 0..=j {
                row += q[j * d + i] * x[p * d + i];
            }
            sqnorm += row * row;
        }
        total += (sqnorm * -0.5).exp();
    }
    total.ln()
}

#[test]
fn a_counter_stepped_in_a_nested_loop_and_a_scratch_buffer_refilled() {
    let d = 4;
    let icf: Vec<f64> = (0..d * (d + 1) / 2)
        .map(|k| (k as f64 * 0.77 + 0.2).sin() * 0.6)
        .collect();
    let x: Vec<f64> = (0..3 * d).map(|k| (k as f64 * 1.31).cos() * 0.8).collect();
    let at: Vec<f64> = icf.iter().chain(&x).copied().collect();
    let m = icf.len();
    assert_gradient_exact(
        "triangular_sqnorm",
        &at,
        triangular_sqnorm_grad(d, &icf, &x),
        dual_gradient(
            |v: &[Dual64]| triangular_reference(d, &v[..m], &v[m..]),
            &at,
        ),
        |p| triangular_sqnorm(d, &p[..m], &p[m..]),
        1e-12,
    );
    let source = triangular_sqnorm_backward_source();
    check_snapshot("triangular_sqnorm", source);
    // The counter is counted back down by the inner reversed loop, not taped; `qx` is kept
    // whole before each fill, not element by element.
    assert!(!source.contains("lparamsidx_1_tape"), "{source}");
    assert_eq!(
        source.matches("qx_tape.push_slice(&qx)").count(),
        1,
        "{source}"
    );
    assert!(!source.contains("qx_tape.push("), "{source}");

    let icf32: Vec<f32> = icf.iter().map(|&v| v as f32).collect();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let at32: Vec<f32> = icf32.iter().chain(&x32).copied().collect();
    let dual32 = dual_gradient(
        |v: &[Dual32]| {
            let wide: Vec<Dual64> = v
                .iter()
                .map(|e| Dual64::new(e.re as f64, e.eps as f64))
                .collect();
            let r = triangular_reference(d, &wide[..m], &wide[m..]);
            Dual32::new(r.re as f32, r.eps as f32)
        },
        &at32,
    );
    assert_gradient_exact(
        "triangular_sqnorm_f32",
        &at32,
        triangular_sqnorm_f32_grad(d, &icf32, &x32),
        dual32,
        |p| triangular_sqnorm_f32(d, &p[..m], &p[m..]),
        1e-4,
    );
}
