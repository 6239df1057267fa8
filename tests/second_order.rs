//! Second order (DESIGN.md, "Forward mode and second order"): `#[backprop(hvp)]` writes
//! `f_hvp(p.., v..) -> (R, G, G)` (value, gradient, Hessian–vector product) and
//! `f_grad_backward(p.., (d_value, d_gradient)) -> ((R, G), G)`. Checked against hyper-dual
//! numbers (num-dual's `HyperDual64`: `eps1` seeded with a unit vector, `eps2` with `v`, so
//! that `eps1eps2` is a component of `H·v`) and against central differences of `f_grad`.

#![allow(clippy::needless_range_loop)]

mod common;

use backprop::backprop;
use common::{central_hv, close, hyper};
use num_dual::{DualNum, HyperDual64};

#[backprop(hvp)]
fn rosenbrock(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

#[test]
fn rosenbrock_hessian() {
    for (at, v) in [
        ([1.2, 0.8], [1.0, 0.0]),
        ([-0.5, 0.3], [0.3, -1.1]),
        ([0.0, 0.0], [0.0, 1.0]),
    ] {
        let (value, (gx, gy), (hx, hy)) = rosenbrock_hvp(at[0], at[1], v[0], v[1]);
        // The closed form: H = [[2 − 400 (y − 3x²), −400x], [−400x, 200]].
        let (x, y) = (at[0], at[1]);
        let h = [
            [2.0 - 400.0 * (y - 3.0 * x * x), -400.0 * x],
            [-400.0 * x, 200.0],
        ];
        let expected = [
            h[0][0] * v[0] + h[0][1] * v[1],
            h[1][0] * v[0] + h[1][1] * v[1],
        ];
        assert_eq!(value, rosenbrock(x, y));
        let (_, (ex, ey)) = rosenbrock_grad(x, y);
        close("gradient", &[gx, gy], &[ex, ey], 1e-15);
        close("H·v", &[hx, hy], &expected, 1e-14);
    }
}

/// A loop with a branch and a slice parameter.
#[backprop(hvp)]
fn recurrence(x: f64, w: &[f64]) -> f64 {
    let mut s = 0.0;
    let mut h = x;
    for i in 0..w.len() {
        h = (h * w[i]).tanh();
        if h > 0.0 {
            s += h * h;
        } else {
            s -= 0.5 * h;
        }
    }
    s * x + (w[0] * x).sin()
}

fn recurrence_ref(p: &[HyperDual64]) -> HyperDual64 {
    let (x, w) = (p[0], &p[1..]);
    let mut s = HyperDual64::from_re(0.0);
    let mut h = x;
    for i in 0..w.len() {
        h = (h * w[i]).tanh();
        if h.re > 0.0 {
            s += h * h;
        } else {
            s -= h * 0.5;
        }
    }
    s * x + (w[0] * x).sin()
}

#[test]
fn a_loop_with_a_branch() {
    for (at, v) in [
        ([0.8, 0.5, -1.3, 0.9], [1.0, 0.2, -0.4, 0.3]),
        ([-0.4, 1.1, 0.7, -0.2], [0.3, -1.0, 0.5, 0.25]),
    ] {
        let (value, (gx, gw), (hx, hw)) = recurrence_hvp(at[0], &at[1..], v[0], &v[1..]);
        let (ev, eg, ehv) = hyper(recurrence_ref, &at, &v);
        assert!((value - ev).abs() < 1e-14);
        let mut g = vec![gx];
        g.extend(gw);
        let mut hv = vec![hx];
        hv.extend(hw);
        close("gradient", &g, &eg, 1e-13);
        close("H·v", &hv, &ehv, 1e-12);
        let grad = |p: &[f64]| {
            let (_, (gx, gw)) = recurrence_grad(p[0], &p[1..]);
            let mut g = vec![gx];
            g.extend(gw);
            g
        };
        close("H·v central", &hv, &central_hv(grad, &at, &v, 1e-5), 1e-6);
    }
}

#[test]
fn grad_backward_is_the_composition_rule_of_grad() {
    let (at, d_value, d_gradient) = ([0.8, 0.5, -1.3, 0.9], 0.7, [0.3, -1.0, 0.5, 0.25]);
    let ((value, (gx, gw)), (dx, dw)) = recurrence_grad_backward(
        at[0],
        &at[1..],
        (d_value, (d_gradient[0], d_gradient[1..].to_vec())),
    );
    let (ev, eg, ehv) = hyper(recurrence_ref, &at, &d_gradient);
    assert!((value - ev).abs() < 1e-14);
    let mut g = vec![gx];
    g.extend(gw);
    close("gradient", &g, &eg, 1e-13);
    let mut d = vec![dx];
    d.extend(dw);
    let expected: Vec<f64> = eg
        .iter()
        .zip(&ehv)
        .map(|(g, hv)| d_value * g + hv)
        .collect();
    close("d_value ∇f + H d_gradient", &d, &expected, 1e-12);
}

#[backprop(hvp)]
fn rosenbrock32(x: f32, y: f32) -> f32 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

#[test]
fn f32_hessian() {
    let (x, y, v) = (1.2f32, 0.8f32, [0.5f32, -1.0]);
    let (value, _, (hx, hy)) = rosenbrock32_hvp(x, y, v[0], v[1]);
    assert_eq!(value, rosenbrock32(x, y));
    let h = [
        [2.0 - 400.0 * (y - 3.0 * x * x), -400.0 * x],
        [-400.0 * x, 200.0],
    ];
    let expected = [
        h[0][0] * v[0] + h[0][1] * v[1],
        h[1][0] * v[0] + h[1][1] * v[1],
    ];
    assert!(
        (hx - expected[0]).abs() < 1e-3 * expected[0].abs().max(1.0),
        "{hx} vs {expected:?}"
    );
    assert!(
        (hy - expected[1]).abs() < 1e-3 * expected[1].abs().max(1.0),
        "{hy} vs {expected:?}"
    );
    backprop::assert_hvp!(
        |p: &[f64]| rosenbrock_grad(p[0], p[1]).1,
        &[1.2, 0.8],
        &[0.5, -1.0],
        &rosenbrock_hvp(1.2, 0.8, 0.5, -1.0).2,
    );
}

/// Calls: a callee with `hvp` is differentiated through its tangent function.
#[backprop(hvp)]
fn soft_neuron(w: f64, x: f64, b: f64) -> f64 {
    (w * x + b).tanh()
}

#[backprop(hvp)]
fn two_soft_neurons(w: f64, x: f64) -> f64 {
    let h = soft_neuron(w, x, 0.5);
    let g = soft_neuron(h, x * x, -0.25);
    g * h + soft_neuron(w, g, 0.1)
}

fn two_soft_neurons_ref(p: &[HyperDual64]) -> HyperDual64 {
    let (w, x) = (p[0], p[1]);
    let h = (w * x + 0.5).tanh();
    let g = (h * x * x - 0.25).tanh();
    g * h + (w * g + 0.1).tanh()
}

#[test]
fn calls_compose_under_hvp() {
    for (at, v) in [([0.9, 1.3], [1.0, -0.5]), ([-2.0, 0.4], [0.2, 0.6])] {
        let (value, (gw, gx), (hw, hx)) = two_soft_neurons_hvp(at[0], at[1], v[0], v[1]);
        let (ev, eg, ehv) = hyper(two_soft_neurons_ref, &at, &v);
        assert!((value - ev).abs() < 1e-14);
        close("gradient", &[gw, gx], &eg, 1e-13);
        close("H·v", &[hw, hx], &ehv, 1e-12);
    }
}

/// The runtime's scalar gates under `hvp` (their tangent functions are the runtime's).
#[backprop(hvp)]
fn gated(w: f64, x: f64) -> f64 {
    let h = backprop::sigmoid(w * x + 0.5);
    let r = backprop::relu(h - 0.3) + backprop::softplus(w - x);
    r * h
}

fn gated_ref(p: &[HyperDual64]) -> HyperDual64 {
    let (w, x) = (p[0], p[1]);
    let h = (HyperDual64::from_re(1.0) + (-(w * x + 0.5)).exp()).recip();
    let z = h - 0.3;
    let relu = if z.re > 0.0 {
        z
    } else {
        HyperDual64::from_re(0.0)
    };
    let r = relu + ((w - x).exp() + 1.0).ln();
    r * h
}

#[test]
fn runtime_gates_under_hvp() {
    for (at, v) in [([0.9, 1.3], [1.0, -0.5]), ([-2.0, 0.4], [0.2, 0.6])] {
        let (value, (gw, gx), (hw, hx)) = gated_hvp(at[0], at[1], v[0], v[1]);
        let (ev, eg, ehv) = hyper(gated_ref, &at, &v);
        assert!((value - ev).abs() < 1e-14);
        close("gradient", &[gw, gx], &eg, 1e-13);
        close("H·v", &[hw, hx], &ehv, 1e-12);
    }
}

// ---------------------------------------------------------------------------------------------
// ndarray code under `hvp`: the tangent lines of tensor operations and gates are ndarray code
// of the forward language, differentiated again as such.

/// Calls of the user's functions that return `[F; N]` and `Vec<F>` under `hvp`: through their
/// `_hvp_tangent`, which returns `(value, tangent)`.
#[backprop(hvp)]
fn pair(x: f64) -> [f64; 2] {
    [x * x, x.sin()]
}

#[backprop(hvp)]
fn scaled_squares(x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for i in 0..x.len() {
        out[i] = x[i] * x[i] * x[0];
    }
    out
}

#[backprop(hvp)]
fn uses_pairs(x: f64, y: &[f64]) -> f64 {
    let p: [f64; 2] = pair(x);
    let q: Vec<f64> = scaled_squares(y);
    p[0] * p[1] + q[1] * x
}

#[test]
fn calls_that_return_float_arrays_under_hvp() {
    let (at, v) = ([0.7, 0.5, 1.5], [1.0, 0.5, -0.25]);
    let (value, (gx, gy), (hx, hy)) = uses_pairs_hvp(at[0], &at[1..], v[0], &v[1..]);
    let (ev, eg, ehv) = hyper(
        |p| p[0] * p[0] * p[0].sin() + p[2] * p[2] * p[1] * p[0],
        &at,
        &v,
    );
    assert!((value - ev).abs() < 1e-14);
    close("gradient", &[&[gx][..], &gy].concat(), &eg, 1e-14);
    close("H·v", &[&[hx][..], &hy].concat(), &ehv, 1e-14);
}

use backprop::ndarray::{Array1, Array2, Axis};

/// The softmax loss of a linear classifier (the course's), its weights differentiated.
#[backprop(hvp, wrt(w))]
fn softmax_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize]) -> f64 {
    let scores = x.dot(w);
    let logp = backprop::log_softmax(&scores, Axis(1));
    -backprop::pick(&logp, y).mean().unwrap()
}

fn softmax_loss_ref(
    w: &[HyperDual64],
    x: &Array2<f64>,
    y: &[usize],
    classes: usize,
) -> HyperDual64 {
    let (n, d) = x.dim();
    let mut loss = HyperDual64::from_re(0.0);
    for i in 0..n {
        let scores: Vec<HyperDual64> = (0..classes)
            .map(|k| {
                (0..d).fold(HyperDual64::from_re(0.0), |s, j| {
                    s + w[j * classes + k] * x[[i, j]]
                })
            })
            .collect();
        let m = scores.iter().fold(f64::NEG_INFINITY, |m, s| m.max(s.re));
        let z = scores
            .iter()
            .fold(HyperDual64::from_re(0.0), |z, s| z + (*s - m).exp());
        loss += z.ln() + m - scores[y[i]];
    }
    loss / n as f64
}

fn grid(shape: (usize, usize), seed: f64) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| ((i * 5 + j) as f64 * seed + 0.3).sin())
}

#[test]
fn softmax_loss_hessian_vector_product() {
    let (x, y) = (grid((4, 3), 0.7), [2usize, 0, 1, 2]);
    let (w, v) = (grid((3, 3), 1.3), grid((3, 3), 0.4));
    let (value, gradient, hv) = softmax_loss_hvp(&w, &x, &y, &v);
    let flat = |a: &Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
    let (ev, eg, ehv) = hyper(|p| softmax_loss_ref(p, &x, &y, 3), &flat(&w), &flat(&v));
    assert!((value - ev).abs() < 1e-13);
    close("gradient", &flat(&gradient), &eg, 1e-12);
    close("H·v", &flat(&hv), &ehv, 1e-11);
    // Against central differences of the gradient, as `assert_hvp!` checks.
    let grad = |p: &[f64]| {
        let w = Array2::from_shape_vec((3, 3), p.to_vec()).unwrap();
        flat(&softmax_loss_grad(&w, &x, &y).1)
    };
    close(
        "H·v by differences",
        &flat(&hv),
        &central_hv(grad, &flat(&w), &flat(&v), 1e-5),
        1e-6,
    );
}

/// A two-layer tanh network's mean squared error, both layers differentiated (f32 too below).
#[backprop(hvp, wrt(w1, b1, w2))]
fn two_layer(
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array1<f64>,
    x: &Array2<f64>,
    t: &Array1<f64>,
) -> f64 {
    let h = (x.dot(w1) + b1).mapv(f64::tanh);
    let out = h.dot(w2);
    let err = &out - t;
    (&err * &err).mean().unwrap()
}

fn two_layer_ref(p: &[HyperDual64], x: &Array2<f64>, t: &Array1<f64>) -> HyperDual64 {
    let (n, d) = x.dim();
    let hidden = 2;
    let (w1, b1, w2) = (
        &p[..d * hidden],
        &p[d * hidden..d * hidden + hidden],
        &p[d * hidden + hidden..],
    );
    let mut loss = HyperDual64::from_re(0.0);
    for i in 0..n {
        let mut out = HyperDual64::from_re(0.0);
        for k in 0..hidden {
            let z = (0..d).fold(b1[k], |s, j| s + w1[j * hidden + k] * x[[i, j]]);
            out += z.tanh() * w2[k];
        }
        let e = out - t[i];
        loss += e * e;
    }
    loss / n as f64
}

#[test]
fn two_layer_network_hessian_vector_product() {
    let (x, t) = (
        grid((5, 3), 0.9),
        Array1::from_vec(vec![0.5, -0.25, 1.0, 0.0, 0.75]),
    );
    let (w1, b1, w2) = (
        grid((3, 2), 1.1),
        Array1::from_vec(vec![0.1, -0.2]),
        Array1::from_vec(vec![0.7, -1.2]),
    );
    let (v1, vb, v2) = (
        grid((3, 2), 0.35),
        Array1::from_vec(vec![1.0, 0.5]),
        Array1::from_vec(vec![-0.5, 0.25]),
    );
    let (value, (g1, gb, g2), (h1, hb, h2)) = two_layer_hvp(&w1, &b1, &w2, &x, &t, &v1, &vb, &v2);
    let at: Vec<f64> = w1.iter().chain(&b1).chain(&w2).copied().collect();
    let dir: Vec<f64> = v1.iter().chain(&vb).chain(&v2).copied().collect();
    let (ev, eg, ehv) = hyper(|p| two_layer_ref(p, &x, &t), &at, &dir);
    assert!((value - ev).abs() < 1e-13);
    let g: Vec<f64> = g1.iter().chain(&gb).chain(&g2).copied().collect();
    let hv: Vec<f64> = h1.iter().chain(&hb).chain(&h2).copied().collect();
    close("gradient", &g, &eg, 1e-12);
    close("H·v", &hv, &ehv, 1e-11);
}

/// A two-layer net with the runtime's array gates: ReLU, a sigmoid, then a softmax (written as
/// `softmax`, then the log of the picked probabilities); its H·v against hyper-dual numbers.
#[backprop(hvp, wrt(w1, w2))]
fn course_net(w1: &Array2<f64>, w2: &Array2<f64>, x: &Array2<f64>, y: &[usize]) -> f64 {
    let h = backprop::relu(&x.dot(w1));
    let s = backprop::sigmoid(&h.dot(w2));
    let p = backprop::softmax(&s, Axis(1));
    -backprop::pick(&p, y).mapv(f64::ln).mean().unwrap()
}

fn course_net_ref(p: &[HyperDual64], x: &Array2<f64>, y: &[usize]) -> HyperDual64 {
    let ((n, d), hidden, classes) = (x.dim(), 3, 2);
    let (w1, w2) = (&p[..d * hidden], &p[d * hidden..]);
    let zero = HyperDual64::from_re(0.0);
    let mut loss = zero;
    for i in 0..n {
        let h: Vec<HyperDual64> = (0..hidden)
            .map(|k| {
                let z = (0..d).fold(zero, |s, j| s + w1[j * hidden + k] * x[[i, j]]);
                if z.re > 0.0 { z } else { zero }
            })
            .collect();
        let s: Vec<HyperDual64> = (0..classes)
            .map(|c| {
                let z = (0..hidden).fold(zero, |acc, k| acc + h[k] * w2[k * classes + c]);
                (-z).exp().recip_plus_one()
            })
            .collect();
        let total = s.iter().fold(zero, |a, v| a + v.exp());
        loss -= (s[y[i]].exp() / total).ln();
    }
    loss / n as f64
}

/// `1 / (1 + self)`.
trait RecipPlusOne {
    fn recip_plus_one(self) -> Self;
}

impl RecipPlusOne for HyperDual64 {
    fn recip_plus_one(self) -> Self {
        (self + 1.0).recip()
    }
}

#[test]
fn relu_sigmoid_and_softmax_gates_under_hvp() {
    let (x, y) = (grid((4, 3), 0.8), [1usize, 0, 1, 1]);
    let (w1, w2) = (grid((3, 3), 1.7), grid((3, 2), 0.6));
    let (v1, v2) = (grid((3, 3), 0.45), grid((3, 2), 1.9));
    let (value, (g1, g2), (h1, h2)) = course_net_hvp(&w1, &w2, &x, &y, &v1, &v2);
    let at: Vec<f64> = w1.iter().chain(&w2).copied().collect();
    let dir: Vec<f64> = v1.iter().chain(&v2).copied().collect();
    let (ev, eg, ehv) = hyper(|p| course_net_ref(p, &x, &y), &at, &dir);
    assert!((value - ev).abs() < 1e-13);
    let g: Vec<f64> = g1.iter().chain(&g2).copied().collect();
    let hv: Vec<f64> = h1.iter().chain(&h2).copied().collect();
    close("gradient", &g, &eg, 1e-12);
    close("H·v", &hv, &ehv, 1e-11);
}

/// A softplus layer on arrays: `softplus` has a gradient-only rule from its value (σ(x) =
/// 1 − e^(−y)), which second order differentiates again.
#[backprop(hvp, jvp, wrt(w))]
fn softplus_net(w: &Array2<f64>, x: &Array2<f64>) -> f64 {
    let h = backprop::softplus(&x.dot(w));
    (&h * &h).sum() - h.sum()
}

fn softplus_net_ref(p: &[HyperDual64], x: &Array2<f64>) -> HyperDual64 {
    let ((n, d), k) = (x.dim(), p.len() / x.ncols());
    let zero = HyperDual64::from_re(0.0);
    let mut total = zero;
    for i in 0..n {
        for c in 0..k {
            let z = (0..d).fold(zero, |s, j| s + p[j * k + c] * x[[i, j]]);
            let h = (z.exp() + 1.0).ln();
            total += h * h - h;
        }
    }
    total
}

#[test]
fn softplus_on_arrays_under_hvp_and_jvp() {
    let (x, w, v) = (grid((4, 3), 0.8), grid((3, 2), 1.3), grid((3, 2), 0.35));
    let (value, g, hv) = softplus_net_hvp(&w, &x, &v);
    let at: Vec<f64> = w.iter().copied().collect();
    let dir: Vec<f64> = v.iter().copied().collect();
    let (ev, eg, ehv) = hyper(|p| softplus_net_ref(p, &x), &at, &dir);
    assert!((value - ev).abs() < 1e-12);
    close(
        "gradient",
        &g.iter().copied().collect::<Vec<_>>(),
        &eg,
        1e-12,
    );
    close("H·v", &hv.iter().copied().collect::<Vec<_>>(), &ehv, 1e-11);
    let (jv, tangent) = softplus_net_jvp(&w, &x, &v);
    assert!((jv - ev).abs() < 1e-12);
    let directional: f64 = eg.iter().zip(&dir).map(|(g, v)| g * v).sum();
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
}

/// The runtime's `max_axis` under `hvp` (through `backprop::max_axis_hvp_tangent` and its
/// `_backward`): a max-pooled score, whose second derivative flows through the maximum's
/// position in each row.
#[backprop(hvp, wrt(w))]
fn pooled(w: &Array2<f64>, x: &Array2<f64>) -> f64 {
    let z = x.dot(w).mapv(f64::tanh);
    let m = backprop::max_axis(&z, Axis(1));
    (&m * &m).sum() + 0.5 * m.sum()
}

fn pooled_ref(p: &[HyperDual64], x: &Array2<f64>) -> HyperDual64 {
    let ((n, d), k) = (x.dim(), p.len() / x.ncols());
    let zero = HyperDual64::from_re(0.0);
    let mut total = zero;
    for i in 0..n {
        let mut m = HyperDual64::from_re(f64::NEG_INFINITY);
        for c in 0..k {
            let z = (0..d)
                .fold(zero, |s, j| s + p[j * k + c] * x[[i, j]])
                .tanh();
            if z.re > m.re {
                m = z;
            }
        }
        total += m * m + m * 0.5;
    }
    total
}

#[test]
fn max_axis_under_hvp() {
    let (x, w, v) = (grid((4, 3), 0.8), grid((3, 5), 1.3), grid((3, 5), 0.35));
    let (value, g, hv) = pooled_hvp(&w, &x, &v);
    let at: Vec<f64> = w.iter().copied().collect();
    let dir: Vec<f64> = v.iter().copied().collect();
    let (ev, eg, ehv) = hyper(|p| pooled_ref(p, &x), &at, &dir);
    assert!((value - ev).abs() < 1e-12);
    let g: Vec<f64> = g.iter().copied().collect();
    close("gradient", &g, &eg, 1e-12);
    close("H·v", &hv.iter().copied().collect::<Vec<_>>(), &ehv, 1e-11);
    let grad = |p: &[f64]| -> Vec<f64> {
        let w = Array2::from_shape_vec((3, 5), p.to_vec()).unwrap();
        pooled_grad(&w, &x).1.iter().copied().collect()
    };
    let central = central_hv(grad, &at, &dir, 1e-5);
    close(
        "H·v central",
        &hv.iter().copied().collect::<Vec<_>>(),
        &central,
        1e-6,
    );
}

/// `mapv` closures that are scalar functions (a branch, a function of the user's) under
/// `hvp`: the tangent is written with the closure's slope functions (`∂h/∂v`, `∂h/∂alpha`,
/// read from `h_hvp_tangent`), which the reverse pass differentiates again.
#[backprop(hvp, jvp, wrt(w, alpha))]
fn leaky_net(w: &Array2<f64>, alpha: f64, x: &Array2<f64>) -> f64 {
    let z = x.dot(w);
    let h = z.mapv(|v| if v > 0.0 { v } else { alpha * v });
    let g = h.mapv(|v| smooth(v, alpha));
    (&g * &h).sum()
}

#[backprop(hvp)]
fn smooth(v: f64, a: f64) -> f64 {
    (a * v).tanh() + 0.25 * v * v
}

fn leaky_net_ref(p: &[HyperDual64], x: &Array2<f64>) -> HyperDual64 {
    let (n, d) = x.dim();
    let alpha = p[p.len() - 1];
    let k = (p.len() - 1) / d;
    let mut total = HyperDual64::from_re(0.0);
    for i in 0..n {
        for c in 0..k {
            let z = (0..d).fold(HyperDual64::from_re(0.0), |s, j| {
                s + p[j * k + c] * x[[i, j]]
            });
            let h = if z.re > 0.0 { z } else { alpha * z };
            let g = (alpha * h).tanh() + h * h * 0.25;
            total += g * h;
        }
    }
    total
}

#[test]
fn mapv_closures_that_are_functions_under_hvp() {
    let (x, w, v) = (grid((4, 3), 0.8), grid((3, 2), 1.3), grid((3, 2), 0.35));
    for (alpha, v_alpha) in [(0.1, 0.7), (0.6, -1.2)] {
        let (value, (g, g_alpha), (hv, hv_alpha)) = leaky_net_hvp(&w, alpha, &x, &v, v_alpha);
        let mut at: Vec<f64> = w.iter().copied().collect();
        at.push(alpha);
        let mut dir: Vec<f64> = v.iter().copied().collect();
        dir.push(v_alpha);
        let (ev, eg, ehv) = hyper(|p| leaky_net_ref(p, &x), &at, &dir);
        assert!((value - ev).abs() < 1e-12);
        let mut gradient: Vec<f64> = g.iter().copied().collect();
        gradient.push(g_alpha);
        close("gradient", &gradient, &eg, 1e-12);
        let mut product: Vec<f64> = hv.iter().copied().collect();
        product.push(hv_alpha);
        close("H·v", &product, &ehv, 1e-11);
        let grad = |p: &[f64]| -> Vec<f64> {
            let w = Array2::from_shape_vec((3, 2), p[..6].to_vec()).unwrap();
            let (_, (g, g_alpha)) = leaky_net_grad(&w, p[6], &x);
            g.iter().copied().chain([g_alpha]).collect()
        };
        close(
            "H·v central",
            &product,
            &central_hv(grad, &at, &dir, 1e-5),
            1e-6,
        );
        // Forward mode over the same function: `<∇f, v>`.
        let (_, tangent) = leaky_net_jvp(&w, alpha, &x, &v, v_alpha);
        let directional: f64 = eg.iter().zip(&dir).map(|(g, v)| g * v).sum();
        assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
    }
}

/// The same leaky layer in f32.
#[backprop(hvp)]
fn leaky32(z: &Array1<f32>, alpha: f32) -> f32 {
    let h = z.mapv(|v| if v > 0.0 { v * v } else { alpha * v * v * v });
    h.sum()
}

#[test]
fn mapv_closures_under_hvp_in_f32() {
    let z = Array1::from(vec![0.5f32, -1.5, 2.0, -0.25]);
    let alpha = 0.3f32;
    let v = Array1::from(vec![1.0f32, 0.5, -0.25, 2.0]);
    let (_, (g, g_alpha), (hv, hv_alpha)) = leaky32_hvp(&z, alpha, &v, 0.5);
    // Closed forms: h = z² (z > 0), α z³ (z ≤ 0).
    for i in 0..4 {
        let (zi, vi) = (z[i], v[i]);
        let (dz, hzz, hza) = if zi > 0.0 {
            (2.0 * zi, 2.0, 0.0)
        } else {
            (3.0 * alpha * zi * zi, 6.0 * alpha * zi, 3.0 * zi * zi)
        };
        assert!((g[i] - dz).abs() < 1e-5);
        assert!((hv[i] - (hzz * vi + hza * 0.5)).abs() < 1e-4, "{hv}");
    }
    let cubes: f32 = z.iter().filter(|v| **v <= 0.0).map(|v| v * v * v).sum();
    assert!((g_alpha - cubes).abs() < 1e-5);
    let mixed: f32 = z
        .iter()
        .zip(&v)
        .filter(|(z, _)| **z <= 0.0)
        .map(|(z, v)| 3.0 * z * z * v)
        .sum();
    assert!((hv_alpha - mixed).abs() < 1e-4);
}

/// A layer of the user's own that returns an array, called from a loss with `hvp`: the loss
/// goes through `tanh_layer_hvp_tangent`, which returns `(value, tangent)`, and its
/// `_backward`.
#[backprop(hvp)]
fn tanh_layer(x: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    let z = x.dot(w);
    z.mapv(f64::tanh)
}

#[backprop(hvp, wrt(w1, w2))]
fn layered_loss(x: &Array2<f64>, w1: &Array2<f64>, w2: &Array2<f64>) -> f64 {
    let h: Array2<f64> = tanh_layer(x, w1);
    let y: Array2<f64> = tanh_layer(&h, w2);
    (&y * &y).sum() + h.sum()
}

/// `tanh(a · w)` of a row-major `a` (n × d) and `w` (d × k), in hyper-dual numbers.
fn tanh_layer_ref(a: &[HyperDual64], n: usize, w: &[HyperDual64], k: usize) -> Vec<HyperDual64> {
    let d = w.len() / k;
    let zero = HyperDual64::from_re(0.0);
    (0..n * k)
        .map(|e| {
            let (i, c) = (e / k, e % k);
            (0..d)
                .fold(zero, |s, j| s + a[i * d + j] * w[j * k + c])
                .tanh()
        })
        .collect()
}

#[test]
fn a_call_that_returns_an_array_under_hvp() {
    let x = grid((4, 3), 0.8);
    let (w1, w2) = (grid((3, 3), 1.7), grid((3, 2), 0.6));
    let (v1, v2) = (grid((3, 3), 0.45), grid((3, 2), 1.9));
    let (value, (g1, g2), (h1, h2)) = layered_loss_hvp(&x, &w1, &w2, &v1, &v2);
    let xs: Vec<HyperDual64> = x.iter().map(|&e| HyperDual64::from_re(e)).collect();
    let at: Vec<f64> = w1.iter().chain(&w2).copied().collect();
    let dir: Vec<f64> = v1.iter().chain(&v2).copied().collect();
    let (ev, eg, ehv) = hyper(
        |p| {
            let h = tanh_layer_ref(&xs, 4, &p[..9], 3);
            let y = tanh_layer_ref(&h, 4, &p[9..], 2);
            y.iter().fold(HyperDual64::from_re(0.0), |s, &e| s + e * e)
                + h.iter().fold(HyperDual64::from_re(0.0), |s, &e| s + e)
        },
        &at,
        &dir,
    );
    assert!((value - ev).abs() < 1e-12);
    let g: Vec<f64> = g1.iter().chain(&g2).copied().collect();
    let hv: Vec<f64> = h1.iter().chain(&h2).copied().collect();
    close("gradient", &g, &eg, 1e-12);
    close("H·v", &hv, &ehv, 1e-11);
}

/// A cell of the user's own that returns a tuple of arrays (`(next_h, next_c)`, as the
/// course's LSTM step), taken apart by the caller's annotated pattern under `hvp`.
#[backprop(hvp)]
fn cell(x: &Array2<f64>, w: &Array2<f64>, c: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let z = x.dot(w);
    let next_c = c * 0.5 + z.mapv(f64::tanh);
    let next_h = next_c.mapv(f64::tanh) * 2.0;
    (next_h, next_c)
}

#[backprop(hvp, wrt(w))]
fn two_cells(x: &Array2<f64>, w: &Array2<f64>, c0: &Array2<f64>) -> f64 {
    let (h, c): (Array2<f64>, Array2<f64>) = cell(x, w, c0);
    let (h2, c2): (Array2<f64>, Array2<f64>) = cell(&h, w, &c);
    (&h2 * &c2).sum()
}

#[test]
fn a_call_that_returns_a_tuple_under_hvp() {
    let (x, w, c0, v) = (
        grid((3, 2), 0.8),
        grid((2, 2), 1.3),
        grid((3, 2), 0.4),
        grid((2, 2), 2.1),
    );
    let (value, g, hv) = two_cells_hvp(&x, &w, &c0, &v);
    let lift = |a: &Array2<f64>| -> Vec<HyperDual64> {
        a.iter().map(|&e| HyperDual64::from_re(e)).collect()
    };
    let (xs, cs) = (lift(&x), lift(&c0));
    let cell_ref = |a: &[HyperDual64], w: &[HyperDual64], c: &[HyperDual64]| {
        let z = tanh_layer_ref(a, 3, w, 2);
        let next_c: Vec<HyperDual64> = c.iter().zip(&z).map(|(&c, &z)| c * 0.5 + z).collect();
        let next_h: Vec<HyperDual64> = next_c.iter().map(|c| c.tanh() * 2.0).collect();
        (next_h, next_c)
    };
    let at: Vec<f64> = w.iter().copied().collect();
    let dir: Vec<f64> = v.iter().copied().collect();
    let (ev, eg, ehv) = hyper(
        |p| {
            let (h, c) = cell_ref(&xs, p, &cs);
            let (h2, c2) = cell_ref(&h, p, &c);
            h2.iter()
                .zip(&c2)
                .fold(HyperDual64::from_re(0.0), |s, (&a, &b)| s + a * b)
        },
        &at,
        &dir,
    );
    assert!((value - ev).abs() < 1e-12);
    close(
        "gradient",
        &g.iter().copied().collect::<Vec<_>>(),
        &eg,
        1e-12,
    );
    close("H·v", &hv.iter().copied().collect::<Vec<_>>(), &ehv, 1e-11);
}

/// The same layer in f32, against central differences of its gradient.
#[backprop(hvp)]
fn tanh_layer32(x: &Array2<f32>, w: &Array2<f32>) -> Array2<f32> {
    let z = x.dot(w);
    z.mapv(f32::tanh)
}

#[backprop(hvp, wrt(w))]
fn layered_loss32(x: &Array2<f32>, w: &Array2<f32>) -> f32 {
    let h: Array2<f32> = tanh_layer32(x, w);
    (&h * &h).sum()
}

#[test]
fn a_call_that_returns_an_array_under_hvp_in_f32() {
    let x = grid((4, 3), 0.8).mapv(|e| e as f32);
    let (w, v) = (
        grid((3, 2), 1.7).mapv(|e| e as f32),
        grid((3, 2), 0.45).mapv(|e| e as f32),
    );
    let (_, _, hv) = layered_loss32_hvp(&x, &w, &v);
    let h = 1e-2f32;
    let plus = layered_loss32_grad(&x, &(&w + &(&v * h))).1;
    let minus = layered_loss32_grad(&x, &(&w - &(&v * h))).1;
    let central = (plus - minus) / (2.0 * h);
    for (a, b) in hv.iter().zip(&central) {
        assert!(
            (a - b).abs() <= 2e-2 * b.abs().max(1.0),
            "{hv:?} vs {central:?}"
        );
    }
}

/// A model's constants held in `self`, its energy a method with `hvp` (`self` outside
/// `wrt(..)`), and an associated function with `hvp` and `jvp`, which the method's gradient
/// calls through `Self::`: the companions are methods of the impl and call each other as such.
#[derive(backprop::Differentiable, Clone)]
struct Oscillator {
    stiffness: f64,
    #[backprop(skip)]
    damped: bool,
}

#[backprop]
impl Oscillator {
    #[backprop(hvp, wrt(x, v))]
    fn energy(&self, x: f64, v: f64) -> f64 {
        let spring = 0.5 * self.stiffness * x * x;
        let kinetic = 0.5 * v * v * x.cos();
        if self.damped {
            spring + kinetic * 0.9
        } else {
            spring + kinetic
        }
    }

    #[backprop(jvp, hvp)]
    fn wobble(s: f64, x: f64) -> f64 {
        (s * x).sin() * x
    }

    /// A gradient inside a differentiated method (`Self::wobble_grad`, differentiated through
    /// `Self::wobble_grad_backward`), and `Self::wobble_jvp` through `wobble_jvp_backward`.
    #[backprop(wrt(x))]
    fn steep(&self, x: f64) -> f64 {
        let (_, (ds, dx)) = Self::wobble_grad(self.stiffness, x);
        let (_, slope) = Self::wobble_jvp(self.stiffness, x, 0.0, 1.0);
        ds * ds + dx * slope
    }
}

#[test]
fn hvp_in_an_impl() {
    let model = Oscillator {
        stiffness: 2.0,
        damped: true,
    };
    let (k, damping) = (model.stiffness, 0.9);
    let energy = |p: &[HyperDual64]| {
        let (x, v) = (p[0], p[1]);
        x * x * (0.5 * k) + v * v * x.cos() * (0.5 * damping)
    };
    let wobble = |p: &[HyperDual64]| (p[0] * p[1]).sin() * p[1];
    for (at, dir) in [([0.5, 1.5], [1.0, 0.0]), ([-1.2, 0.4], [0.3, -0.7])] {
        let (value, (dx, dv), (hx, hv)) = model.energy_hvp(at[0], at[1], dir[0], dir[1]);
        let (ref_value, gradient, hv_ref) = hyper(energy, &at, &dir);
        assert!((value - ref_value).abs() < 1e-14);
        close("energy gradient", &[dx, dv], &gradient, 1e-14);
        close("energy H·v", &[hx, hv], &hv_ref, 1e-13);
        let numeric = central_hv(
            |p| {
                let (_, (a, b)) = model.energy_grad(p[0], p[1]);
                vec![a, b]
            },
            &at,
            &dir,
            1e-5,
        );
        close("energy H·v, central differences", &[hx, hv], &numeric, 1e-7);

        let (value, (ds, dx), (hs, hx)) = Oscillator::wobble_hvp(at[0], at[1], dir[0], dir[1]);
        let (ref_value, gradient, hv_ref) = hyper(wobble, &at, &dir);
        assert!((value - ref_value).abs() < 1e-14);
        close("wobble gradient", &[ds, dx], &gradient, 1e-14);
        close("wobble H·v", &[hs, hx], &hv_ref, 1e-13);
    }
    // steep(x) = (∂w/∂s)² + (∂w/∂x)², differentiated by x: a column of wobble's Hessian.
    let x = 0.8;
    let (value, d_x) = model.steep_grad(x);
    let (_, g, column) = hyper(wobble, &[k, x], &[0.0, 1.0]);
    assert!((value - (g[0] * g[0] + g[1] * g[1])).abs() < 1e-13);
    let exact = 2.0 * g[0] * column[0] + 2.0 * g[1] * column[1];
    assert!(
        (d_x - exact).abs() < 1e-12 * exact.abs().max(1.0),
        "{d_x} vs {exact}"
    );
}

/// Struct parameters under `hvp`: `v_net` is a direction shaped like the model, and the
/// gradient and `H·v` are models too (nested structs, a float field, a skipped field; by
/// reference and by value).
#[derive(backprop::Differentiable, Clone, Debug)]
struct Unit {
    w: Vec<f64>,
    b: f64,
}

#[derive(backprop::Differentiable, Clone, Debug)]
struct Critic {
    first: Unit,
    scale: f64,
    #[backprop(skip)]
    tag: &'static str,
}

#[backprop(hvp)]
fn critic_loss(net: &Critic, x: &[f64]) -> f64 {
    let mut s = net.first.b;
    for i in 0..x.len() {
        s += (net.first.w[i] * x[i]).tanh();
    }
    net.scale * s * s + x[0] * x[1]
}

#[backprop(hvp, wrt(net))]
fn critic_owned(net: Critic, x: &[f64]) -> f64 {
    let h = net.first.w[0] * x[0] + net.first.w[1] * x[1] + net.first.b;
    net.scale * h.sin() * h
}

#[backprop(hvp)]
fn unit_loss_f32(u: &UnitF32, x: f32) -> f32 {
    let h = u.w[0] * x + u.w[1] * x * x + u.b;
    h.tanh() * h
}

#[derive(backprop::Differentiable, Clone, Debug)]
struct UnitF32 {
    w: [f32; 2],
    b: f32,
}

#[test]
fn struct_parameters_under_hvp() {
    use backprop::Differentiable;
    let net = Critic {
        first: Unit {
            w: vec![0.4, -0.9],
            b: 0.2,
        },
        scale: 1.3,
        tag: "critic",
    };
    let x = [0.6, -0.35];
    let v_net = Critic {
        first: Unit {
            w: vec![0.3, 0.8],
            b: -0.5,
        },
        scale: 0.25,
        tag: "",
    };
    let v_x = [0.7, -0.2];
    let at: Vec<f64> = net.to_flat().into_iter().chain(x).collect();
    let dir: Vec<f64> = v_net.to_flat().into_iter().chain(v_x).collect();
    let reference = |p: &[HyperDual64]| {
        let (w, b, scale, x) = (&p[0..2], p[2], p[3], &p[4..6]);
        let s = b + (w[0] * x[0]).tanh() + (w[1] * x[1]).tanh();
        scale * s * s + x[0] * x[1]
    };
    let (value, (g_net, g_x), (hv_net, hv_x)) = critic_loss_hvp(&net, &x, &v_net, &v_x);
    let (ref_value, gradient, hv) = hyper(reference, &at, &dir);
    assert!((value - ref_value).abs() < 1e-14);
    assert_eq!((g_net.tag, hv_net.tag), ("critic", "critic"));
    let flat = |n: &Critic, x: &[f64]| {
        n.to_flat()
            .into_iter()
            .chain(x.iter().copied())
            .collect::<Vec<_>>()
    };
    close("gradient", &flat(&g_net, &g_x), &gradient, 1e-14);
    close("H·v", &flat(&hv_net, &hv_x), &hv, 1e-13);
    let numeric = central_hv(
        |p| {
            let moved = net.from_flat(&p[..4]);
            let (_, (g, gx)) = critic_loss_grad(&moved, &p[4..]);
            flat(&g, &gx)
        },
        &at,
        &dir,
        1e-5,
    );
    close(
        "H·v, central differences",
        &flat(&hv_net, &hv_x),
        &numeric,
        1e-7,
    );

    // The composition rule of `critic_loss_grad`, seeded with a value and a model-shaped
    // upstream gradient: d_value ∇f + H · d_gradient.
    let d_value = 0.8;
    let ((value2, (g2, _)), (row_net, row_x)) =
        critic_loss_grad_backward(&net, &x, (d_value, (v_net.clone(), v_x.to_vec())));
    assert_eq!(value2, value);
    close(
        "grad_backward's gradient",
        &g2.to_flat(),
        &g_net.to_flat(),
        0.0,
    );
    let expected: Vec<f64> = gradient
        .iter()
        .zip(&hv)
        .map(|(g, h)| d_value * g + h)
        .collect();
    close("grad_backward", &flat(&row_net, &row_x), &expected, 1e-13);

    // By value, differentiated by the model alone.
    let owned = |p: &[HyperDual64]| {
        let h = p[0] * x[0] + p[1] * x[1] + p[2];
        p[3] * h.sin() * h
    };
    let (value, g, hv_owned) = critic_owned_hvp(net.clone(), &x, v_net.clone());
    let (ref_value, gradient, hv) = hyper(owned, &net.to_flat(), &v_net.to_flat());
    assert!((value - ref_value).abs() < 1e-14);
    close("by value, gradient", &g.to_flat(), &gradient, 1e-14);
    close("by value, H·v", &hv_owned.to_flat(), &hv, 1e-13);

    // f32: H·v against central differences of the f32 gradient.
    let u = UnitF32 {
        w: [0.5, -0.25],
        b: 0.1,
    };
    let v_u = UnitF32 {
        w: [1.0, 0.5],
        b: -0.5,
    };
    let (_, (g_u, _), (hv_u, hv_x)) = unit_loss_f32_hvp(&u, 0.8f32, &v_u, 0.3f32);
    let step = 1e-2f32;
    let moved = |s: f32| {
        let p = UnitF32 {
            w: [u.w[0] + s * v_u.w[0], u.w[1] + s * v_u.w[1]],
            b: u.b + s * v_u.b,
        };
        unit_loss_f32_grad(&p, 0.8 + s * 0.3).1
    };
    let ((gp, gpx), (gm, gmx)) = (moved(step), moved(-step));
    let numeric: Vec<f32> = gp
        .to_flat()
        .iter()
        .zip(gm.to_flat())
        .map(|(a, b)| (a - b) / (2.0 * step))
        .chain([(gpx - gmx) / (2.0 * step)])
        .collect();
    let ours: Vec<f32> = hv_u.to_flat().into_iter().chain([hv_x]).collect();
    for (a, b) in ours.iter().zip(&numeric) {
        assert!(
            (a - b).abs() < 2e-3 * b.abs().max(1.0),
            "{ours:?} vs {numeric:?}"
        );
    }
    assert_eq!(g_u.to_flat().len(), 3);
}
