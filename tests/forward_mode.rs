//! Forward mode (DESIGN.md, "Forward mode and second order"): `#[backprop(jvp)]` writes
//! `f_jvp(p.., t..) -> (R, R)`, the value and the Jacobian–vector product in one pass. Each is
//! checked against dual numbers seeded with the tangent (the exact directional derivative) and
//! against a central difference in the tangent's direction, at several points, f64 and f32.

#![allow(clippy::needless_range_loop)]

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis, array};
use common::{c, central_directional, dual_directional};
use num_dual::{Dual32, Dual64, DualNum};

fn close(what: &str, a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * 1f64.max(a.abs().max(b.abs())),
        "{what}: {a} vs {b}"
    );
}

/// Staged scalar code: the lecture's example function.
#[backprop(jvp)]
fn staged(x: f64, y: f64) -> f64 {
    let sigy = 1.0 / (1.0 + (-y).exp());
    let num = x + sigy;
    let sigx = 1.0 / (1.0 + (-x).exp());
    let xpy = x + y;
    let xpysqr = xpy * xpy;
    let den = sigx + xpysqr;
    let invden = 1.0 / den;
    num * invden
}

#[backprop(jvp)]
fn staged32(x: f32, y: f32) -> f32 {
    let z = (x * y).sin() + x.powi(3) / (1.0 + y * y);
    z.tanh() * y.exp()
}

#[test]
fn staged_scalars() {
    let f = |p: &[Dual64]| {
        let (x, y) = (p[0], p[1]);
        let sigy = (c(1.0) + (-y).exp()).recip();
        let sigx = (c(1.0) + (-x).exp()).recip();
        (x + sigy) / (sigx + (x + y) * (x + y))
    };
    for (at, t) in [
        ([3.0, -4.0], [1.0, 0.0]),
        ([0.5, 1.5], [-0.3, 2.0]),
        ([-1.2, 0.1], [0.7, 0.7]),
    ] {
        let (value, tangent) = staged_jvp(at[0], at[1], t[0], t[1]);
        let (v, jt) = dual_directional(f, &at, &t);
        assert_eq!(value, staged(at[0], at[1]));
        close("staged value", value, v, 1e-15);
        close("staged J·t", tangent, jt, 1e-14);
        close(
            "staged central",
            tangent,
            central_directional(|p| staged(p[0], p[1]), &at, &t, 1e-6),
            1e-7,
        );
    }
    let f32ref = |p: &[Dual32]| {
        let (x, y) = (p[0], p[1]);
        let z = (x * y).sin() + x.powi(3) / (c(1.0f32) + y * y);
        z.tanh() * y.exp()
    };
    let (at, t) = ([0.4f32, -0.8], [1.0f32, 0.5]);
    let (value, tangent) = staged32_jvp(at[0], at[1], t[0], t[1]);
    let (v, jt) = dual_directional(f32ref, &at, &t);
    assert!(
        (value - v).abs() < 1e-6 && (tangent - jt).abs() < 1e-5,
        "{tangent} vs {jt}"
    );
}

/// A recurrence over a slice with a branch in the loop, a buffer, `max`, and the `wrt` list.
#[backprop(wrt(x, w), jvp)]
fn recurrence(x: f64, w: &[f64], scale: f64) -> f64 {
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
    let mut buf = [0.0; 2];
    buf[0] = s.exp();
    buf[1] = x / (1.0 + s);
    scale * buf[0] * buf[1] + s.max(x)
}

#[test]
fn loops_branches_and_buffers() {
    let scale = 1.5;
    let f = |p: &[Dual64]| {
        let (x, w) = (p[0], &p[1..]);
        let mut s = c(0.0);
        let mut h = x;
        for i in 0..w.len() {
            h = (h * w[i]).tanh();
            if h.re > 0.0 {
                s += h * h;
            } else {
                s -= h * 0.5;
            }
        }
        let v = s.exp() * (x / (s + 1.0)) * scale;
        v + if s.re >= x.re { s } else { x }
    };
    for (at, t) in [
        ([0.8, 0.5, -1.3, 0.9], [1.0, 0.2, -0.4, 0.3]),
        ([-0.4, 1.1, 0.7, -0.2], [0.3, -1.0, 0.5, 0.25]),
    ] {
        let (value, tangent) = recurrence_jvp(at[0], &at[1..], scale, t[0], &t[1..]);
        let (v, jt) = dual_directional(f, &at, &t);
        close("recurrence value", value, v, 1e-14);
        close("recurrence J·t", tangent, jt, 1e-13);
        let g = |p: &[f64]| recurrence(p[0], &p[1..], scale);
        close(
            "recurrence central",
            tangent,
            central_directional(g, &at, &t, 1e-6),
            1e-6,
        );
    }
}

/// A projectile with drag over time steps (a `while` loop until it lands): the sensitivity of
/// the range to the launch speed, the angle and the drag in one forward pass each direction.
#[backprop(wrt(speed, angle, drag), jvp)]
fn projectile_range(speed: f64, angle: f64, drag: f64, dt: f64) -> f64 {
    let mut x = 0.0;
    let mut y = 0.0;
    let mut vx = speed * angle.cos();
    let mut vy = speed * angle.sin();
    let mut steps = 0;
    while steps < 400 {
        let v = (vx * vx + vy * vy).sqrt();
        vx -= drag * v * vx * dt;
        vy -= (9.81 + drag * v * vy) * dt;
        x += vx * dt;
        y += vy * dt;
        steps += 1;
        if y < 0.0 {
            break;
        }
    }
    x
}

#[test]
fn a_simulation_loop() {
    let dt = 0.01;
    let f = |p: &[Dual64]| {
        let (speed, angle, drag) = (p[0], p[1], p[2]);
        let (mut x, mut y) = (c(0.0), c(0.0));
        let (mut vx, mut vy) = (speed * angle.cos(), speed * angle.sin());
        let mut steps = 0;
        while steps < 400 {
            let v = (vx * vx + vy * vy).sqrt();
            vx -= drag * v * vx * dt;
            vy -= (drag * v * vy + 9.81) * dt;
            x += vx * dt;
            y += vy * dt;
            steps += 1;
            if y.re < 0.0 {
                break;
            }
        }
        x
    };
    let at = [12.0, 0.7, 0.05];
    for t in [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.3, -0.2, 0.5],
    ] {
        let (value, tangent) = projectile_range_jvp(at[0], at[1], at[2], dt, t[0], t[1], t[2]);
        let (v, jt) = dual_directional(f, &at, &t);
        close("range", value, v, 1e-14);
        close("range J·t", tangent, jt, 1e-12);
    }
}

/// Calls: a user's `#[backprop(jvp)]` function (its `_jvp`) and the runtime's gates.
#[backprop(jvp)]
fn neuron(w: f64, x: f64, b: f64) -> f64 {
    backprop::sigmoid(w * x + b)
}

#[backprop(jvp)]
fn two_neurons(w: f64, x: f64) -> f64 {
    let h = neuron(w, x, 0.5);
    let g = backprop::relu(h - 0.3) + backprop::softplus(x);
    neuron(g, h, -0.25)
}

#[test]
fn calls_use_the_callees_jvp() {
    let sigmoid = |z: Dual64| (c(1.0) + (-z).exp()).recip();
    let softplus = |z: Dual64| (z.exp() + 1.0).ln();
    let f = |p: &[Dual64]| {
        let (w, x) = (p[0], p[1]);
        let h = sigmoid(w * x + 0.5);
        let r = h - 0.3;
        let g = if r.re > 0.0 { r } else { c(0.0) } + softplus(x);
        sigmoid(g * h - 0.25)
    };
    for (at, t) in [([0.9, 1.3], [1.0, -0.5]), ([-2.0, 0.4], [0.2, 0.6])] {
        let (value, tangent) = two_neurons_jvp(at[0], at[1], t[0], t[1]);
        let (v, jt) = dual_directional(f, &at, &t);
        close("two neurons", value, v, 1e-14);
        close("two neurons J·t", tangent, jt, 1e-13);
    }
}

/// An array output: the tangent is an array of the output's type.
#[backprop(jvp)]
fn polar(r: f64, theta: f64) -> [f64; 2] {
    [r * theta.cos(), r * theta.sin()]
}

#[test]
fn array_outputs_have_array_tangents() {
    let (value, tangent) = polar_jvp(2.0, 0.5, 0.1, 1.0);
    assert_eq!(value, polar(2.0, 0.5));
    close(
        "x",
        tangent[0],
        0.1 * 0.5f64.cos() - 2.0 * 0.5f64.sin(),
        1e-15,
    );
    close(
        "y",
        tangent[1],
        0.1 * 0.5f64.sin() + 2.0 * 0.5f64.cos(),
        1e-15,
    );
}

/// ndarray code: an affine layer, tanh, a broadcast bias and a scalar, reductions.
#[backprop(wrt(w, b, s), jvp)]
fn tensor_loss(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>, s: f64) -> f64 {
    let h = (x.dot(w) + b).tanh();
    let z = &h * s + 1.0;
    let m = z.sum_axis(Axis(0));
    (m.t().dot(&m) + h.mean().unwrap()) / (1.0 + s * s)
}

#[backprop(jvp)]
fn affine_tanh(x: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    x.dot(w).tanh()
}

#[test]
fn tensors() {
    let x = array![[0.5, -1.0, 0.25], [1.5, 0.3, -0.7]];
    let w = array![[0.2, -0.4], [0.7, 0.1], [-0.3, 0.5]];
    let b = array![0.1, -0.2];
    let s = 0.8;
    let (tw, tb, ts) = (
        array![[1.0, 0.5], [-0.5, 0.2], [0.3, 0.3]],
        array![0.4, -1.0],
        0.6,
    );
    let (value, tangent) = tensor_loss_jvp(&x, &w, &b, s, &tw, &tb, ts);
    assert_eq!(value, tensor_loss(&x, &w, &b, s));
    let along = |e: f64| tensor_loss(&x, &(&w + &(&tw * e)), &(&b + &(&tb * e)), s + ts * e);
    let central = (along(1e-6) - along(-1e-6)) / 2e-6;
    close("tensor J·t", tangent, central, 1e-7);
    // The layer's tangent, against its closed form: (1 − y²) ⊙ (x · t_w).
    let tx = Array2::<f64>::zeros(x.raw_dim());
    let (y, ty) = affine_tanh_jvp(&x, &w, &tx, &tw);
    let expected = (1.0 - &y * &y) * x.dot(&tw);
    for (a, e) in ty.iter().zip(&expected) {
        close("affine tanh J·t", *a, *e, 1e-14);
    }
}

/// The course's losses: softmax cross-entropy through `log_softmax` and `pick`, a ReLU layer
/// with a clipped activation (`mapv(|v| v.min(cap))` with a differentiated cap).
#[backprop(wrt(w, cap), jvp)]
fn softmax_loss(x: &Array2<f64>, w: &Array2<f64>, y: &[usize], cap: f64) -> f64 {
    let h = backprop::relu(x.dot(w));
    let clipped = h.mapv(|v| v.min(cap));
    let probs = backprop::softmax(&clipped, Axis(1));
    let logp = backprop::log_softmax(&clipped, Axis(1));
    let picked = backprop::pick(&logp, y);
    -picked.mean().unwrap() + 0.1 * probs.sum_axis(Axis(0)).mapv(|p| p * p).sum()
}

#[test]
fn gates_and_losses() {
    let x = array![[0.5, -1.0, 0.25], [1.5, 0.3, -0.7], [0.2, 0.9, 1.1]];
    let w = array![[0.2, -0.4, 0.9], [0.7, 0.1, -0.6], [-0.3, 0.5, 0.4]];
    let y = [2, 0, 1];
    let cap = 0.6;
    let tw = array![[1.0, 0.5, -0.2], [-0.5, 0.2, 0.1], [0.3, 0.3, 0.7]];
    let tcap = 0.4;
    let (value, tangent) = softmax_loss_jvp(&x, &w, &y, cap, &tw, tcap);
    assert_eq!(value, softmax_loss(&x, &w, &y, cap));
    let along = |e: f64| softmax_loss(&x, &(&w + &(&tw * e)), &y, cap + tcap * e);
    let central = (along(1e-6) - along(-1e-6)) / 2e-6;
    close("softmax loss J·t", tangent, central, 1e-7);
    // The same directional derivative from the gradient: <∇f, t>.
    let (_, (dw, dcap)) = softmax_loss_grad(&x, &w, &y, cap);
    close("<grad, t>", tangent, (&dw * &tw).sum() + dcap * tcap, 1e-13);
}

// ---------------------------------------------------------------------------------------------
// `var_axis`, `std_axis` and `mapv` closures with a branch under `jvp`, checked against a
// central difference in the tangent's direction and against the gradient's `<∇f, t>`.

/// Layer normalisation by `var_axis`, then a leaky ReLU with a differentiated slope, and the
/// spread of each column by `std_axis`.
#[backprop(jvp)]
fn normalised(x: &Array2<f64>, alpha: f64) -> f64 {
    let mu = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    let var = x.var_axis(Axis(1), 0.0).insert_axis(Axis(1));
    let xn = (x - &mu) / &(var + 1e-5).mapv(f64::sqrt);
    let act = xn.mapv(|v| if v > 0.0 { v } else { alpha * v });
    let spread = x.std_axis(Axis(0), 1.0);
    (&act * &act).sum() + spread.sum() * alpha
}

#[test]
fn var_std_and_branching_closures_under_jvp() {
    let x = array![
        [0.5, -1.2, 0.3, 2.0],
        [1.1, 0.4, -0.7, 0.2],
        [-0.3, 0.9, 1.6, -1.1]
    ];
    let tx = array![
        [1.0, 0.5, -0.25, 0.0],
        [0.3, -1.0, 0.2, 0.7],
        [0.0, 0.4, -0.6, 1.2]
    ];
    for (alpha, ta) in [(0.1, 1.0), (0.3, -0.5)] {
        let (value, tangent) = normalised_jvp(&x, alpha, &tx, ta);
        assert!((value - normalised(&x, alpha)).abs() < 1e-12);
        let at: Vec<f64> = x.iter().copied().chain([alpha]).collect();
        let t: Vec<f64> = tx.iter().copied().chain([ta]).collect();
        let f = |p: &[f64]| {
            let m = Array2::from_shape_vec((3, 4), p[..12].to_vec()).unwrap();
            normalised(&m, p[12])
        };
        close(
            "central",
            tangent,
            central_directional(f, &at, &t, 1e-6),
            1e-6,
        );
        let (_, (gx, galpha)) = normalised_grad(&x, alpha);
        let dot = (&gx * &tx).sum() + galpha * ta;
        close("<grad, t>", tangent, dot, 1e-11);
    }
}

/// The runtime's `max_axis` under `jvp` (`backprop::max_axis_jvp`): the tangent at each
/// row's maximum.
#[backprop(jvp)]
fn row_peaks(x: &Array2<f64>) -> f64 {
    let m = backprop::max_axis(x, Axis(1));
    (&m * &m).sum()
}

#[test]
fn max_axis_under_jvp() {
    let x = array![[0.5, -1.2, 0.3], [1.1, 0.4, 2.7]];
    let tx = array![[1.0, 0.5, -0.25], [0.3, -1.0, 0.2]];
    let (value, tangent) = row_peaks_jvp(&x, &tx);
    assert_eq!(value, 0.25 + 2.7 * 2.7);
    // 2·0.5·t[0,0] + 2·2.7·t[1,2].
    close("tangent", tangent, 2.0 * 0.5 * 1.0 + 2.0 * 2.7 * 0.2, 1e-14);
}
