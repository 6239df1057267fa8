//! Calls that return tuples, taken apart by a `let` pattern (DESIGN.md: "A tuple result is
//! taken apart with a tuple pattern, as anywhere in the language"): a gradient inside a loss
//! (`let (_, (_, gx)) = critic_grad(w, x);`, the gradient penalty of WGAN-GP, through
//! `critic_grad_backward`), and a hand-written gate that returns two values (an LSTM-like
//! `(h, c)` step, `step_backward(.., (d_h, d_c))`) called in a loop. Checked against dual
//! numbers (num-dual) over closed forms and against central differences.

#![allow(clippy::needless_range_loop)]

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, dual_directional, dual_gradient};
use num_dual::{Dual64, DualNum};

/// A critic `c(w, x) = Σ_i w_i · tanh(w_{n+i} · x_i)`, with its second-order companions.
#[backprop(hvp)]
fn critic(w: &[f64], x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for i in 0..n {
        s += w[i] * (w[n + i] * x[i]).tanh();
    }
    s
}

/// The gradient-penalty loss: the critic's value plus λ (‖∇ₓ c‖ − 1)², as WGAN-GP writes it.
#[backprop]
fn penalised(w: &[f64], x: &[f64]) -> f64 {
    let (value, (_, gx)) = critic_grad(w, x);
    let norm = gx.iter().map(|g| g * g).sum::<f64>().sqrt();
    value + 10.0 * (norm - 1.0).powi(2)
}

/// The same in dual numbers, with ∇ₓ c in closed form: `w_i w_{n+i} (1 − tanh²(w_{n+i} x_i))`.
fn penalised_reference(p: &[Dual64], n: usize) -> Dual64 {
    let (w, x) = (&p[..2 * n], &p[2 * n..]);
    let mut value = c(0.0);
    let mut norm2 = c(0.0);
    for i in 0..n {
        let t = (w[n + i] * x[i]).tanh();
        value += w[i] * t;
        let g = w[i] * w[n + i] * (-t * t + 1.0);
        norm2 += g * g;
    }
    value + (norm2.sqrt() - 1.0).powi(2) * 10.0
}

#[test]
fn gradient_penalty_through_critic_grad() {
    let w = [0.5, -1.0, 0.75, 1.25, 0.5, -0.8];
    for x in [[0.3, -0.2, 0.9], [1.0, 0.5, -1.5]] {
        let at: Vec<f64> = w.iter().chain(&x).copied().collect();
        let (value, (dw, dx)) = penalised_grad(&w, &x);
        assert_gradient_exact(
            "penalised",
            &at,
            (value, [dw, dx].concat()),
            dual_gradient(|p| penalised_reference(p, 3), &at),
            |p| penalised(&p[..6], &p[6..]),
            1e-10,
        );
    }
    // The penalty's backward goes through the critic's second-order companion.
    let source = penalised_backward_source();
    assert!(source.contains("critic_grad_backward("), "{source}");
}

/// A hand-written gate that returns two values, `(h, c)`, as a layer of the lecture's
/// modular API, with its `_backward` taking the upstream gradient of both.
fn step(x: f64, h: f64, c: f64, w: &[f64]) -> (f64, f64) {
    let f = 1.0 / (1.0 + (-(w[0] * x + w[1] * h)).exp());
    let g = (w[2] * x + w[3] * h).tanh();
    let c2 = f * c + (1.0 - f) * g;
    (c2.tanh(), c2)
}

#[allow(clippy::type_complexity)]
fn step_backward(
    x: f64,
    h: f64,
    c: f64,
    w: &[f64],
    (d_h2, d_c2): (f64, f64),
) -> ((f64, f64), (f64, f64, f64, Vec<f64>)) {
    let zf = w[0] * x + w[1] * h;
    let f = 1.0 / (1.0 + (-zf).exp());
    let g = (w[2] * x + w[3] * h).tanh();
    let c2 = f * c + (1.0 - f) * g;
    let h2 = c2.tanh();
    let d_c2 = d_c2 + d_h2 * (1.0 - h2 * h2);
    let d_f = d_c2 * (c - g);
    let d_g = d_c2 * (1.0 - f);
    let d_c = d_c2 * f;
    let d_zf = d_f * f * (1.0 - f);
    let d_zg = d_g * (1.0 - g * g);
    let d_x = d_zf * w[0] + d_zg * w[2];
    let d_h = d_zf * w[1] + d_zg * w[3];
    let d_w = vec![d_zf * x, d_zf * h, d_zg * x, d_zg * h];
    ((h2, c2), (d_x, d_h, d_c, d_w))
}

#[allow(clippy::too_many_arguments)] // a tangent per parameter, as `_jvp`'s contract says
fn step_jvp(
    x: f64,
    h: f64,
    c: f64,
    w: &[f64],
    tx: f64,
    th: f64,
    tc: f64,
    tw: &[f64],
) -> ((f64, f64), (f64, f64)) {
    // By dual numbers: the gate's own forward mode, written once for the test.
    let d = |v: f64, t: f64| Dual64::new(v, t);
    let (x, h, c) = (d(x, tx), d(h, th), d(c, tc));
    let w: Vec<Dual64> = w.iter().zip(tw).map(|(&v, &t)| d(v, t)).collect();
    let f = ((-(w[0] * x + w[1] * h)).exp() + 1.0).recip();
    let g = (w[2] * x + w[3] * h).tanh();
    let c2 = f * c + (-f + 1.0) * g;
    let h2 = c2.tanh();
    ((h2.re, c2.re), (h2.eps, c2.eps))
}

/// A recurrence over a sequence with the gate: `(h, c)` carried, taken apart at each step.
#[backprop(jvp)]
fn sequence(xs: &[f64], w: &[f64]) -> f64 {
    let mut h = 0.0;
    let mut c = 0.0;
    for t in 0..xs.len() {
        let (h2, c2) = step(xs[t], h, c, w);
        h = h2;
        c = c2;
    }
    h * h + c
}

fn sequence_reference(p: &[Dual64], steps: usize) -> Dual64 {
    let (xs, w) = (&p[..steps], &p[steps..]);
    let (mut h, mut c) = (c(0.0), c(0.0));
    for t in 0..steps {
        let f = ((-(w[0] * xs[t] + w[1] * h)).exp() + 1.0).recip();
        let g = (w[2] * xs[t] + w[3] * h).tanh();
        c = f * c + (-f + 1.0) * g;
        h = c.tanh();
    }
    h * h + c
}

#[test]
fn two_valued_gate_in_a_loop() {
    let (xs, w) = ([0.5, -1.0, 0.25, 2.0], [0.8, -0.5, 1.2, 0.3]);
    let at: Vec<f64> = xs.iter().chain(&w).copied().collect();
    let (value, (dxs, dw)) = sequence_grad(&xs, &w);
    assert_gradient_exact(
        "sequence",
        &at,
        (value, [dxs, dw].concat()),
        dual_gradient(|p| sequence_reference(p, 4), &at),
        |p| sequence(&p[..4], &p[4..]),
        1e-12,
    );
    // Forward mode through the gate's `step_jvp`.
    let (txs, tw) = ([1.0, 0.0, -0.5, 0.25], [0.5, 1.0, 0.0, -1.0]);
    let (value, tangent) = sequence_jvp(&xs, &w, &txs, &tw);
    let t: Vec<f64> = txs.iter().chain(&tw).copied().collect();
    let (ref_value, ref_tangent) = dual_directional(|p| sequence_reference(p, 4), &at, &t);
    assert!((value - ref_value).abs() < 1e-12);
    assert!(
        (tangent - ref_tangent).abs() < 1e-12,
        "{tangent} vs {ref_tangent}"
    );
}

/// Parts typed by the `let`'s annotation, one of them unused (`_`): its gradient is a zero
/// of its shape.
fn split_vec(x: &[f64]) -> (Vec<f64>, f64) {
    (x.iter().map(|v| v * v).collect(), x.iter().sum())
}

#[allow(clippy::type_complexity)]
fn split_vec_backward(x: &[f64], (d_sq, d_sum): (Vec<f64>, f64)) -> ((Vec<f64>, f64), Vec<f64>) {
    let d_x = x
        .iter()
        .zip(&d_sq)
        .map(|(v, d)| 2.0 * v * d + d_sum)
        .collect();
    (split_vec(x), d_x)
}

#[backprop]
fn annotated(x: &[f64]) -> f64 {
    let (sq, _): (Vec<f64>, f64) = split_vec(x);
    sq[0] + 2.0 * sq[1]
}

#[test]
fn annotated_parts_and_an_unused_one() {
    let x = [0.5, -1.5, 2.0];
    let (value, g) = annotated_grad(&x);
    assert_eq!(value, 0.25 + 2.0 * 2.25);
    assert_eq!(g, vec![1.0, -6.0, 0.0]);
}

// ---------------------------------------------------------------------------------------------
// Functions that return tuples: `-> (Array2<f64>, Array2<f64>)`, `f_backward(.., (d_h, d_c))`.

use backprop::ndarray::{Array1, Array2, s};

/// The course's `lstm_step_forward`, returning `(next_h, next_c)` as the numpy original does.
#[backprop(jvp)]
fn lstm_step(
    x: &Array2<f64>,
    prev_h: &Array2<f64>,
    prev_c: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
) -> (Array2<f64>, Array2<f64>) {
    let h = prev_h.ncols();
    let a = x.dot(wx) + prev_h.dot(wh) + b;
    let i = backprop::sigmoid(&a.slice(s![.., 0..h]));
    let f = backprop::sigmoid(&a.slice(s![.., h..2 * h]));
    let o = backprop::sigmoid(&a.slice(s![.., 2 * h..3 * h]));
    let g = a.slice(s![.., 3 * h..4 * h]).tanh();
    let next_c = &f * prev_c + &i * &g;
    let next_h = &o * &next_c.tanh();
    (next_h, next_c)
}

/// An LSTM over a sequence of step inputs, `(h, c)` carried, and a read-out of the last `h`.
#[backprop(wrt(wx, wh, b))]
fn lstm_loss(
    xs: &[Array2<f64>],
    h0: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
) -> f64 {
    let mut h = h0.clone();
    let mut c = Array2::zeros(h0.raw_dim());
    for x in xs {
        let (next_h, next_c): (Array2<f64>, Array2<f64>) = lstm_step(x, &h, &c, wx, wh, b);
        h = next_h;
        c = next_c;
    }
    (&h * &h).sum() + c.sum()
}

fn pseudo(shape: (usize, usize), seed: f64) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| {
        ((i * 7 + j) as f64 * seed + seed).sin() * 0.5
    })
}

fn flat(arrays: &[&Array2<f64>]) -> Vec<f64> {
    arrays.iter().flat_map(|a| a.iter().copied()).collect()
}

fn unflat(p: &[f64], shapes: &[(usize, usize)]) -> Vec<Array2<f64>> {
    let mut at = 0;
    shapes
        .iter()
        .map(|&(r, c)| {
            let a = Array2::from_shape_vec((r, c), p[at..at + r * c].to_vec()).unwrap();
            at += r * c;
            a
        })
        .collect()
}

#[test]
fn a_layer_that_returns_two_arrays() {
    let (x, h, c) = (
        pseudo((2, 3), 0.3),
        pseudo((2, 2), 0.7),
        pseudo((2, 2), 1.1),
    );
    let (wx, wh) = (pseudo((3, 8), 0.37), pseudo((2, 8), 0.53));
    let b = Array1::from_shape_fn(8, |j| 0.1 * j as f64 - 0.3);
    let (d_h, d_c) = (pseudo((2, 2), 1.7), pseudo((2, 2), 2.3));
    let ((next_h, next_c), (dx, dh, dc, dwx, dwh, _db)) =
        lstm_step_backward(&x, &h, &c, &wx, &wh, &b, (d_h.clone(), d_c.clone()));
    let (ref_h, ref_c) = lstm_step(&x, &h, &c, &wx, &wh, &b);
    assert_eq!((next_h, next_c), (ref_h, ref_c));
    // <(d_h, d_c), lstm_step(p)> by central differences, over x, h, c, wx, wh.
    let shapes = [(2, 3), (2, 2), (2, 2), (3, 8), (2, 8)];
    let at = flat(&[&x, &h, &c, &wx, &wh]);
    let analytic = flat(&[&dx, &dh, &dc, &dwx, &dwh]);
    let report = backprop::check_gradient(
        |p| {
            let v = unflat(p, &shapes);
            let (nh, nc) = lstm_step(&v[0], &v[1], &v[2], &v[3], &v[4], &b);
            (&nh * &d_h).sum() + (&nc * &d_c).sum()
        },
        &at,
        &analytic,
    );
    assert!(report.passed(), "{report}");
    // Forward mode: the tuple of both tangents, against a directional central difference.
    let t: Vec<Array2<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(k, &sh)| pseudo(sh, 0.9 + k as f64))
        .collect();
    let tb = Array1::from_elem(8, 0.25);
    let (_, (t_h, t_c)) = lstm_step_jvp(
        &x, &h, &c, &wx, &wh, &b, &t[0], &t[1], &t[2], &t[3], &t[4], &tb,
    );
    let eps = 1e-6;
    let moved = |s: f64| {
        let m = |a: &Array2<f64>, t: &Array2<f64>| a + &(t * s);
        lstm_step(
            &m(&x, &t[0]),
            &m(&h, &t[1]),
            &m(&c, &t[2]),
            &m(&wx, &t[3]),
            &m(&wh, &t[4]),
            &(&b + &(&tb * s)),
        )
    };
    let ((hp, cp), (hm, cm)) = (moved(eps), moved(-eps));
    for (a, n) in t_h.iter().zip(((hp - hm) / (2.0 * eps)).iter()) {
        assert!((a - n).abs() < 1e-7, "t_h: {a} vs {n}");
    }
    for (a, n) in t_c.iter().zip(((cp - cm) / (2.0 * eps)).iter()) {
        assert!((a - n).abs() < 1e-7, "t_c: {a} vs {n}");
    }
}

#[test]
fn a_sequence_of_two_valued_layers() {
    let xs: Vec<Array2<f64>> = (0..3).map(|t| pseudo((2, 3), 0.3 + t as f64)).collect();
    let h0 = pseudo((2, 2), 0.7);
    let (wx, wh) = (pseudo((3, 8), 0.37), pseudo((2, 8), 0.53));
    let b = Array1::from_shape_fn(8, |j| 0.1 * j as f64 - 0.3);
    let (_, (dwx, dwh, db)) = lstm_loss_grad(&xs, &h0, &wx, &wh, &b);
    let at: Vec<f64> = flat(&[&wx, &wh])
        .into_iter()
        .chain(b.iter().copied())
        .collect();
    let analytic: Vec<f64> = flat(&[&dwx, &dwh])
        .into_iter()
        .chain(db.iter().copied())
        .collect();
    let report = backprop::check_gradient(
        |p| {
            let v = unflat(&p[..40], &[(3, 8), (2, 8)]);
            let b = Array1::from_vec(p[40..].to_vec());
            lstm_loss(&xs, &h0, &v[0], &v[1], &b)
        },
        &at,
        &analytic,
    );
    assert!(report.passed(), "{report}");
}

/// An array result taken apart by an array pattern: `let [value, tangent] =
/// g_hvp_tangent(..);` (GradBench's saddle, reverse over forward), and an array literal.
#[backprop(hvp)]
fn saddle_objective(x: f64, y: f64) -> f64 {
    x * x * y - y * y
}

#[backprop(wrt(x))]
fn ascent_slope(x: f64, y: f64) -> f64 {
    let [_, dy] = saddle_objective_hvp_tangent(x, y, 0.0, 1.0);
    let [a, b]: [f64; 2] = [x * dy, dy + x];
    a * b
}

#[backprop]
fn unpacked32(x: f32, w: [f32; 2]) -> f32 {
    let [s, t] = [x.sin(), x * x];
    let [a, _] = w;
    s * t * a
}

#[test]
fn array_patterns() {
    // dy = ∂f/∂y = x² − 2y, so the value is x·dy·(dy + x).
    let reference = |p: &[Dual64]| {
        let dy = p[0] * p[0] - p[1] * 2.0;
        p[0] * dy * (dy + p[0])
    };
    for (x, y) in [(0.7, 0.3), (-1.2, 0.5), (2.0, -0.25)] {
        let (value, d_x) = ascent_slope_grad(x, y);
        let (exact_value, exact) = dual_gradient(reference, &[x, y]);
        assert!((value - exact_value).abs() < 1e-14);
        assert!((d_x - exact[0]).abs() < 1e-12 * exact[0].abs().max(1.0));
    }
    let (value, (d_x, d_w)) = unpacked32_grad(0.5, [2.0, 3.0]);
    assert_eq!(value, unpacked32(0.5, [2.0, 3.0]));
    let exact = (0.5f32.cos() * 0.25 + 0.5f32.sin() * 1.0) * 2.0;
    assert!((d_x - exact).abs() < 1e-6);
    assert_eq!(d_w, [0.5f32.sin() * 0.25, 0.0]);
}
