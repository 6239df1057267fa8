//! Functions whose output is not a scalar (DESIGN.md, "Outputs that are not a scalar"): `[F; M]`,
//! `Vec<F>` and ndarray arrays. `f_backward(p.., d_out)` takes an upstream gradient of the
//! output's type, by value, and returns the vector–Jacobian product: the gradient of
//! `<d_out, f(p)>`. Each is checked against an exact reference (dual numbers, or the course's
//! closed-form backward for the layers) and against central differences of `<d_out, f(p)>`;
//! composition calls them from losses, in joint and in split mode.

#![allow(clippy::needless_range_loop)] // the functions are written as their numpy originals, by index

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis, array};
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

// ---------------------------------------------------------------------------------------------
// `[F; M]` and `Vec<F>` outputs.

/// A point in polar coordinates, as an array literal.
#[backprop]
fn polar(r: f64, theta: f64) -> [f64; 2] {
    [r * theta.cos(), r * theta.sin()]
}

#[backprop]
fn polar32(r: f32, theta: f32) -> [f32; 2] {
    [r * theta.cos(), r * theta.sin()]
}

#[test]
fn an_array_literal_output_gives_the_vector_jacobian_product() {
    for (at, d) in [([1.5, 0.3], [1.0, 0.0]), ([0.7, -2.1], [-0.4, 2.5])] {
        let (value, (dr, dtheta)) = polar_backward(at[0], at[1], d);
        assert_eq!(value, polar(at[0], at[1]));
        let vjp = |p: &[Dual64]| {
            let x = p[0] * p[1].cos();
            let y = p[0] * p[1].sin();
            x * c(d[0]) + y * c(d[1])
        };
        let inner = value[0] * d[0] + value[1] * d[1];
        assert_gradient_exact(
            "polar",
            &at,
            (inner, (dr, dtheta)),
            dual_gradient(vjp, &at),
            |p| {
                let v = polar(p[0], p[1]);
                v[0] * d[0] + v[1] * d[1]
            },
            1e-14,
        );
    }
    let (at, d) = ([1.5f32, 0.3], [0.5f32, -1.0]);
    let (value, (dr, dtheta)) = polar32_backward(at[0], at[1], d);
    let vjp = |p: &[Dual32]| (p[0] * p[1].cos()) * c(d[0]) + (p[0] * p[1].sin()) * c(d[1]);
    assert_gradient_exact(
        "polar32",
        &at,
        (value[0] * d[0] + value[1] * d[1], (dr, dtheta)),
        dual_gradient(vjp, &at),
        |p| {
            let v = polar32(p[0], p[1]);
            v[0] * d[0] + v[1] * d[1]
        },
        1e-6,
    );
}

/// The residuals of a line fit, written into a buffer by index and returned. (No `wrt`: the
/// losses below call it, and a callee differentiates every float argument.)
#[backprop]
fn line_residuals(p: &[f64; 2], xs: &[f64; 4], ys: &[f64; 4]) -> [f64; 4] {
    let mut r = [0.0; 4];
    for i in 0..4 {
        r[i] = p[0] * xs[i] + p[1] - ys[i];
    }
    r
}

/// The same with slices, returning a `Vec` built by `vec![0.0; n]`.
#[backprop]
fn curve_residuals(p: &[f64], xs: &[f64], ys: &[f64]) -> Vec<f64> {
    let n = xs.len();
    let mut r = vec![0.0; n];
    for i in 0..n {
        let model = p[0] * (-p[1] * xs[i]).exp() + p[2];
        r[i] = model - ys[i];
    }
    r
}

/// A buffer written over in place before it is returned: the value returned is the last one,
/// and the reverse pass restores the old values it needs.
#[backprop]
fn squashed(x: &[f64; 3], y: f64) -> [f64; 3] {
    let mut r = [0.0; 3];
    for i in 0..3 {
        r[i] = x[i] * y;
    }
    for i in 0..3 {
        r[i] = (r[i] * r[i] + y).tanh();
    }
    r
}

/// `vec![a, b, c]` of differentiated values.
#[backprop]
fn moments(x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mut s = 0.0;
    let mut q = 0.0;
    for i in 0..x.len() {
        s += x[i];
        q += x[i] * x[i];
    }
    let mean = s / n;
    vec![mean, q / n - mean * mean, s]
}

#[test]
fn buffers_returned_as_arrays_and_vecs() {
    let xs = [0.0, 1.0, 2.0, 3.0];
    let ys = [1.0, 2.9, 5.2, 7.1];
    let p = [1.8, 0.9];
    let d = [0.5, -1.0, 2.0, 0.25];
    let (r, (dp, dxs, dys)) = line_residuals_backward(&p, &xs, &ys, d);
    assert_eq!(r, line_residuals(&p, &xs, &ys));
    // Closed form: dp0 = Σ d_i x_i, dp1 = Σ d_i; d_xs = p0 d, d_ys = −d.
    assert_eq!(dxs, d.map(|d| p[0] * d));
    assert_eq!(dys, d.map(|d| -d));
    let dp_ref = vec![
        d.iter().zip(&xs).map(|(d, x)| d * x).sum::<f64>(),
        d.iter().sum::<f64>(),
    ];
    let inner = |r: &[f64]| r.iter().zip(&d).map(|(r, d)| r * d).sum::<f64>();
    assert_gradient_exact(
        "line_residuals",
        &p,
        (inner(&r), dp),
        (inner(&r), dp_ref),
        |q| inner(&line_residuals(&[q[0], q[1]], &xs, &ys)),
        1e-14,
    );

    let xs = [0.0, 0.5, 1.0, 1.5, 2.0];
    let ys = [3.1, 2.2, 1.7, 1.3, 1.2];
    let p = vec![2.0, 1.1, 0.9];
    let d = vec![1.0, -0.5, 0.25, 2.0, -1.5];
    let (r, (dp, _, dys)) = curve_residuals_backward(&p, &xs, &ys, d.clone());
    assert_eq!(dys, d.iter().map(|d| -d).collect::<Vec<_>>());
    assert_eq!(r, curve_residuals(&p, &xs, &ys));
    let vjp = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..xs.len() {
            let model = q[0] * (-q[1] * xs[i]).exp() + q[2];
            total += (model - ys[i]) * d[i];
        }
        total
    };
    let inner = |r: &[f64]| r.iter().zip(&d).map(|(r, d)| r * d).sum::<f64>();
    assert_gradient_exact(
        "curve_residuals",
        &p,
        (inner(&r), dp),
        dual_gradient(vjp, &p),
        |q| inner(&curve_residuals(q, &xs, &ys)),
        1e-14,
    );

    let x = [0.3, -0.8, 1.1];
    let d = [1.0, 2.0, -0.5];
    let (r, (dx, dy)) = squashed_backward(&x, 0.6, d);
    assert_eq!(r, squashed(&x, 0.6), "the value after the last write");
    let vjp = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..3 {
            let t = q[i] * q[3];
            total += (t * t + q[3]).tanh() * d[i];
        }
        total
    };
    let at = [x[0], x[1], x[2], 0.6];
    let inner = |r: &[f64; 3]| r.iter().zip(&d).map(|(r, d)| r * d).sum::<f64>();
    assert_gradient_exact(
        "squashed",
        &at,
        (inner(&r), (dx, dy)),
        dual_gradient(vjp, &at),
        |q| inner(&squashed(&[q[0], q[1], q[2]], q[3])),
        1e-14,
    );

    let x = vec![0.5, -1.0, 2.5, 0.25];
    let d = vec![1.0, -2.0, 0.5];
    let (m, dx) = moments_backward(&x, d.clone());
    assert_eq!(m, moments(&x));
    let vjp = |q: &[Dual64]| {
        let n = q.len() as f64;
        let s = q.iter().fold(Dual64::from_re(0.0), |a, &b| a + b);
        let sq = q.iter().fold(Dual64::from_re(0.0), |a, &b| a + b * b);
        let mean = s / n;
        mean * d[0] + (sq / n - mean * mean) * d[1] + s * d[2]
    };
    let inner = |m: &[f64]| m.iter().zip(&d).map(|(m, d)| m * d).sum::<f64>();
    assert_gradient_exact(
        "moments",
        &x,
        (inner(&m), dx),
        dual_gradient(vjp, &x),
        |q| inner(&moments(q)),
        1e-14,
    );
}

/// Losses that call the functions above: `let r: [f64; 4] = line_residuals(..)` is
/// differentiated with `line_residuals_backward`, the upstream handed over by value.
#[backprop(wrt(p))]
fn line_loss(p: &[f64; 2], xs: &[f64; 4], ys: &[f64; 4]) -> f64 {
    let r: [f64; 4] = line_residuals(p, xs, ys);
    let mut total = 0.0;
    for i in 0..4 {
        total += r[i] * r[i];
    }
    0.5 * total
}

#[backprop(wrt(p))]
fn curve_loss(p: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let r: Vec<f64> = curve_residuals(p, xs, ys);
    let mut total = 0.0;
    for i in 0..r.len() {
        total += r[i] * r[i];
    }
    total / r.len() as f64
}

#[backprop]
fn spiral_point(r: f64, theta: f64) -> f64 {
    let p: [f64; 2] = polar(r, theta);
    p[0] * p[1] + p[0].powi(2)
}

/// A call's result written in place, as a loss weights its residuals: `let mut r = g(..);`
/// then `r[i] *= w[i];` (the result copied into a buffer of the loss's own).
#[backprop(wrt(p))]
fn weighted_line_loss(p: &[f64; 2], xs: &[f64; 4], ys: &[f64; 4], w: &[f64; 4]) -> f64 {
    let mut r: [f64; 4] = line_residuals(p, xs, ys);
    for i in 0..4 {
        r[i] *= w[i];
    }
    r[0] *= p[1];
    let mut total = 0.0;
    for v in r.iter() {
        total += v * v;
    }
    total
}

#[backprop(wrt(p))]
fn clipped_curve_loss(p: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut r: Vec<f64> = curve_residuals(p, xs, ys);
    for i in 0..r.len() {
        if r[i] > 1.0 {
            r[i] = 1.0;
        }
    }
    let mut total = 0.0;
    for v in &r {
        total += v * v;
    }
    total
}

#[test]
fn a_call_result_written_in_place() {
    let xs = [0.0, 1.0, 2.0, 3.0];
    let ys = [1.0, 2.9, 5.2, 7.1];
    let w = [1.0, 0.5, 2.0, 0.25];
    let p = [1.8, 0.9];
    let loss = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..4 {
            let mut r = (q[0] * xs[i] + q[1] - ys[i]) * w[i];
            if i == 0 {
                r *= q[1];
            }
            total += r * r;
        }
        total
    };
    assert_gradient_exact(
        "weighted_line_loss",
        &p,
        weighted_line_loss_grad(&p, &xs, &ys, &w),
        dual_gradient(loss, &p),
        |q| weighted_line_loss(&[q[0], q[1]], &xs, &ys, &w),
        1e-13,
    );

    let xs = [0.0, 0.5, 1.0, 1.5, 2.0];
    let ys = [0.1, 2.2, 1.7, 1.3, 1.2];
    let p = [2.0, 1.1, 0.9];
    let loss = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..xs.len() {
            let r = q[0] * (-q[1] * xs[i]).exp() + q[2] - ys[i];
            let r = if r.re > 1.0 { Dual64::from_re(1.0) } else { r };
            total += r * r;
        }
        total
    };
    assert_gradient_exact(
        "clipped_curve_loss",
        &p,
        clipped_curve_loss_grad(&p, &xs, &ys),
        dual_gradient(loss, &p),
        |q| clipped_curve_loss(q, &xs, &ys),
        1e-13,
    );
}

#[test]
fn losses_compose_array_valued_functions() {
    let xs = [0.0, 1.0, 2.0, 3.0];
    let ys = [1.0, 2.9, 5.2, 7.1];
    let p = [1.8, 0.9];
    let loss = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..4 {
            let r = q[0] * xs[i] + q[1] - ys[i];
            total += r * r;
        }
        total * 0.5
    };
    assert_gradient_exact(
        "line_loss",
        &p,
        line_loss_grad(&p, &xs, &ys),
        dual_gradient(loss, &p),
        |q| line_loss(&[q[0], q[1]], &xs, &ys),
        1e-14,
    );

    let xs = [0.0, 0.5, 1.0, 1.5, 2.0];
    let ys = [3.1, 2.2, 1.7, 1.3, 1.2];
    let p = [2.0, 1.1, 0.9];
    let loss = |q: &[Dual64]| {
        let mut total = Dual64::from_re(0.0);
        for i in 0..xs.len() {
            let r = q[0] * (-q[1] * xs[i]).exp() + q[2] - ys[i];
            total += r * r;
        }
        total / xs.len() as f64
    };
    assert_gradient_exact(
        "curve_loss",
        &p,
        curve_loss_grad(&p, &xs, &ys),
        dual_gradient(loss, &p),
        |q| curve_loss(q, &xs, &ys),
        1e-14,
    );

    let at = [1.3, 0.4];
    let f = |q: &[Dual64]| {
        let (x, y) = (q[0] * q[1].cos(), q[0] * q[1].sin());
        x * y + x.powi(2)
    };
    assert_gradient_exact(
        "spiral_point",
        &at,
        spiral_point_grad(at[0], at[1]),
        dual_gradient(f, &at),
        |q| spiral_point(q[0], q[1]),
        1e-14,
    );
}

// ---------------------------------------------------------------------------------------------
// ndarray layers: `f_backward(x, w, b, dout)` is the course's `layer_backward(dout, cache)`.

/// `out = x.dot(w) + b`, numpy's `affine_forward`.
#[backprop]
fn affine(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    x.dot(w) + b
}

/// Affine then ReLU, `np.maximum(0, x.dot(w) + b)`.
#[backprop]
fn affine_relu(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    let z = x.dot(w) + b;
    z.mapv(|v| v.max(0.0))
}

/// One step of a vanilla RNN, `np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)`: its backward reads
/// its own output (`1 - next_h²`).
#[backprop]
fn rnn_step(
    x: &Array2<f64>,
    prev_h: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
) -> Array2<f64> {
    (x.dot(wx) + prev_h.dot(wh) + b).tanh()
}

#[backprop]
fn affine32(x: &Array2<f32>, w: &Array2<f32>, b: &Array1<f32>) -> Array2<f32> {
    x.dot(w) + b
}

fn close2(what: &str, a: &Array2<f64>, b: &Array2<f64>, tol: f64) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * x.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
}

fn close1(what: &str, a: &Array1<f64>, b: &Array1<f64>, tol: f64) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * x.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
}

/// Central differences of `<dout, f(p)>` over the flattened parameters agree with `analytic`.
fn vjp_agrees_with_central_differences(
    what: &str,
    shapes: &[(usize, usize)],
    at: &[f64],
    analytic: &[f64],
    f: impl Fn(&[Array2<f64>]) -> f64,
) {
    let unflatten = |p: &[f64]| {
        let mut arrays = Vec::new();
        let mut start = 0;
        for &(r, c) in shapes {
            arrays.push(Array2::from_shape_vec((r, c), p[start..start + r * c].to_vec()).unwrap());
            start += r * c;
        }
        arrays
    };
    let report = backprop::check_gradient(|p| f(&unflatten(p)), at, analytic);
    assert!(
        report.passed(),
        "{what}: disagrees with central differences\n{report}"
    );
}

fn data() -> (Array2<f64>, Array2<f64>, Array1<f64>, Array2<f64>) {
    let x = array![
        [0.5, -1.2, 0.3],
        [1.1, 0.4, -0.7],
        [-0.2, 0.9, 1.4],
        [0.05, -0.6, 0.8]
    ];
    let w = array![[0.2, -0.5], [0.8, 0.1], [-0.3, 0.6]];
    let b = array![0.05, -0.1];
    let dout = array![[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25], [2.0, 1.0]];
    (x, w, b, dout)
}

#[test]
fn affine_backward_is_the_courses() {
    let (x, w, b, dout) = data();
    let (out, (dx, dw, db)) = affine_backward(&x, &w, &b, dout.clone());
    close2("out", &out, &affine(&x, &w, &b), 0.0);
    close2("dx", &dx, &dout.dot(&w.t()), 1e-14);
    close2("dw", &dw, &x.t().dot(&dout), 1e-14);
    close1("db", &db, &dout.sum_axis(Axis(0)), 1e-14);
    let at: Vec<f64> = x.iter().chain(&w).chain(&b).copied().collect();
    let analytic: Vec<f64> = dx.iter().chain(&dw).chain(&db).copied().collect();
    vjp_agrees_with_central_differences("affine", &[(4, 3), (3, 2), (1, 2)], &at, &analytic, |p| {
        (affine(&p[0], &p[1], &p[2].row(0).to_owned()) * &dout).sum()
    });

    // f32: the same closed form.
    let f = |a: &Array2<f64>| a.mapv(|v| v as f32);
    let (x32, w32, d32) = (f(&x), f(&w), f(&dout));
    let b32 = b.mapv(|v| v as f32);
    let (_, (dx, dw, db)) = affine32_backward(&x32, &w32, &b32, d32.clone());
    let back = |a: &Array2<f32>| a.mapv(f64::from);
    close2("dx f32", &back(&dx), &dout.dot(&w.t()), 1e-5);
    close2("dw f32", &back(&dw), &x.t().dot(&dout), 1e-5);
    close1("db f32", &db.mapv(f64::from), &dout.sum_axis(Axis(0)), 1e-5);
}

#[test]
fn relu_and_tanh_layers_backward_are_the_courses() {
    let (x, w, b, dout) = data();
    let (out, (dx, dw, db)) = affine_relu_backward(&x, &w, &b, dout.clone());
    let z = x.dot(&w) + &b;
    close2("out", &out, &z.mapv(|v| v.max(0.0)), 0.0);
    let dz = &dout * &z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    close2("dx", &dx, &dz.dot(&w.t()), 1e-14);
    close2("dw", &dw, &x.t().dot(&dz), 1e-14);
    close1("db", &db, &dz.sum_axis(Axis(0)), 1e-14);

    let prev_h = array![[0.1, -0.3], [0.7, 0.2], [-0.5, 0.4], [0.0, 0.9]];
    let wh = array![[0.3, -0.2], [0.5, 0.4]];
    let (next_h, (dx, dprev, dwx, dwh, db)) =
        rnn_step_backward(&x, &prev_h, &w, &wh, &b, dout.clone());
    // The course's rnn_step_backward: dtanh = dnext_h * (1 - next_h²).
    let dtanh = &dout * &(1.0 - &next_h * &next_h);
    close2("dx", &dx, &dtanh.dot(&w.t()), 1e-14);
    close2("dprev_h", &dprev, &dtanh.dot(&wh.t()), 1e-14);
    close2("dWx", &dwx, &x.t().dot(&dtanh), 1e-14);
    close2("dWh", &dwh, &prev_h.t().dot(&dtanh), 1e-14);
    close1("db", &db, &dtanh.sum_axis(Axis(0)), 1e-14);
    let at: Vec<f64> = x
        .iter()
        .chain(&prev_h)
        .chain(&w)
        .chain(&wh)
        .chain(&b)
        .copied()
        .collect();
    let analytic: Vec<f64> = dx
        .iter()
        .chain(&dprev)
        .chain(&dwx)
        .chain(&dwh)
        .chain(&db)
        .copied()
        .collect();
    vjp_agrees_with_central_differences(
        "rnn_step",
        &[(4, 3), (4, 2), (3, 2), (2, 2), (1, 2)],
        &at,
        &analytic,
        |p| (rnn_step(&p[0], &p[1], &p[2], &p[3], &p[4].row(0).to_owned()) * &dout).sum(),
    );

    // Split mode: `f_forward`'s closure gives what `f_backward` gives.
    let (value, reverse) = rnn_step_forward(&x, &prev_h, &w, &wh, &b);
    close2("forward value", &value, &next_h, 0.0);
    let (dx2, _, _, dwh2, _) = reverse(dout.clone());
    close2("reverse dx", &dx2, &dx, 0.0);
    close2("reverse dWh", &dwh2, &dwh, 0.0);
}

/// The two-layer net of the course, built from the layers above: joint mode (each layer's
/// `_backward` runs its forward pass again) and split mode (its `_forward` runs once).
#[backprop(wrt(w1, b1, w2, b2))]
fn two_layer(
    x: &Array2<f64>,
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    target: &Array2<f64>,
) -> f64 {
    let hidden: Array2<f64> = affine_relu(x, w1, b1);
    let scores: Array2<f64> = affine(&hidden, w2, b2);
    let diff = scores - target;
    0.5 * (&diff * &diff).sum()
}

#[backprop(wrt(w1, b1, w2, b2), split(affine_relu, affine))]
fn two_layer_split(
    x: &Array2<f64>,
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    target: &Array2<f64>,
) -> f64 {
    let hidden: Array2<f64> = affine_relu(x, w1, b1);
    let scores: Array2<f64> = affine(&hidden, w2, b2);
    let diff = scores - target;
    0.5 * (&diff * &diff).sum()
}

#[test]
fn a_two_layer_net_from_array_valued_layers() {
    let (x, w1, b1, _) = data();
    let w2 = array![[0.4, -0.7, 0.1], [-0.6, 0.3, 0.9]];
    let b2 = array![0.1, 0.0, -0.2];
    let target = array![
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0]
    ];
    let (loss, (dw1, db1, dw2, db2)) = two_layer_grad(&x, &w1, &b1, &w2, &b2, &target);
    // The course's backward, by hand.
    let z = x.dot(&w1) + &b1;
    let h = z.mapv(|v| v.max(0.0));
    let scores = h.dot(&w2) + &b2;
    let dscores = &scores - &target;
    let dh = dscores.dot(&w2.t());
    let dz = &dh * &z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    assert!((loss - 0.5 * (&dscores * &dscores).sum()).abs() < 1e-14);
    close2("dw2", &dw2, &h.t().dot(&dscores), 1e-14);
    close1("db2", &db2, &dscores.sum_axis(Axis(0)), 1e-14);
    close2("dw1", &dw1, &x.t().dot(&dz), 1e-14);
    close1("db1", &db1, &dz.sum_axis(Axis(0)), 1e-14);
    let (loss_split, (sw1, sb1, sw2, sb2)) = two_layer_split_grad(&x, &w1, &b1, &w2, &b2, &target);
    assert_eq!(loss_split, loss);
    close2("split dw1", &sw1, &dw1, 1e-15);
    close1("split db1", &sb1, &db1, 1e-15);
    close2("split dw2", &sw2, &dw2, 1e-15);
    close1("split db2", &sb2, &db2, 1e-15);
    // The first layer is split; the second reads `&hidden`, an array the function owns, and
    // stays in joint mode (a closure borrowing it could not leave the function).
    let source = two_layer_split_backward_source();
    assert!(
        source.contains("affine_relu_forward(x, w1, b1)"),
        "{source}"
    );
    assert!(!source.contains("affine_relu_backward"), "{source}");
    assert!(source.contains("affine_backward(&hidden"), "{source}");
}

/// The generated code's shape: the layer's backward reads its output (`1 - out²`) and returns
/// it; the literal's gradient is the upstream, read by element; a buffer written over is
/// returned as the forward pass left it (`r_value`), its overwritten elements restored.
#[test]
fn array_output_snapshots() {
    check_snapshot("rnn_step", rnn_step_backward_source());
    check_snapshot("polar", polar_backward_source());
    check_snapshot("squashed", squashed_backward_source());
}

// ---------------------------------------------------------------------------------------------
// Forms found porting GradBench's C++ (ADBench): an `if`/`else` whose arms are array
// literals, a tuple `let` of two method calls in an arm, a constant array literal made
// mutable and written into.

/// ba's Rodrigues rotation: the rotated point by the angle-axis formula, or its first-order
/// form at angle zero.
#[backprop]
fn rodrigues(rot: &[f64], pt: [f64; 3]) -> [f64; 3] {
    let sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2];
    if sqtheta != 0.0 {
        let theta = sqtheta.sqrt();
        let (cos, sin) = (theta.cos(), theta.sin());
        let w = [rot[0] / theta, rot[1] / theta, rot[2] / theta];
        let cross = [
            w[1] * pt[2] - w[2] * pt[1],
            w[2] * pt[0] - w[0] * pt[2],
            w[0] * pt[1] - w[1] * pt[0],
        ];
        let tmp = (w[0] * pt[0] + w[1] * pt[1] + w[2] * pt[2]) * (1.0 - cos);
        [
            pt[0] * cos + cross[0] * sin + w[0] * tmp,
            pt[1] * cos + cross[1] * sin + w[1] * tmp,
            pt[2] * cos + cross[2] * sin + w[2] * tmp,
        ]
    } else {
        [
            pt[0] + rot[1] * pt[2] - rot[2] * pt[1],
            pt[1] + rot[2] * pt[0] - rot[0] * pt[2],
            pt[2] + rot[0] * pt[1] - rot[1] * pt[0],
        ]
    }
}

fn rodrigues_vjp_ref(p: &[Dual64], d: [f64; 3]) -> Dual64 {
    let (rot, pt) = (&p[..3], &p[3..]);
    let sq = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2];
    let theta = sq.sqrt();
    let w: Vec<Dual64> = rot.iter().map(|r| *r / theta).collect();
    let cross = [
        w[1] * pt[2] - w[2] * pt[1],
        w[2] * pt[0] - w[0] * pt[2],
        w[0] * pt[1] - w[1] * pt[0],
    ];
    let tmp = (w[0] * pt[0] + w[1] * pt[1] + w[2] * pt[2]) * (-theta.cos() + 1.0);
    (0..3).fold(c(0.0), |s, k| {
        s + (pt[k] * theta.cos() + cross[k] * theta.sin() + w[k] * tmp) * d[k]
    })
}

#[test]
fn array_literals_as_the_arms_of_the_value() {
    let (rot, pt, d) = ([0.3, -0.2, 0.5], [1.0, 2.0, -0.5], [0.7, -1.1, 0.4]);
    let (value, (d_rot, d_pt)) = rodrigues_backward(&rot, pt, d);
    assert_eq!(value, rodrigues(&rot, pt));
    let at = [rot[0], rot[1], rot[2], pt[0], pt[1], pt[2]];
    assert_gradient_exact(
        "rodrigues",
        &at,
        (0.0, [d_rot, d_pt.to_vec()].concat()),
        (0.0, dual_gradient(|p| rodrigues_vjp_ref(p, d), &at).1),
        |p| {
            let r = rodrigues(&p[..3], [p[3], p[4], p[5]]);
            r[0] * d[0] + r[1] * d[1] + r[2] * d[2]
        },
        1e-12,
    );
    // At angle zero, the other arm: d_pt = d + d × rot.
    let (_, (_, d_pt)) = rodrigues_backward(&[0.0, 0.0, 0.0], pt, d);
    assert_eq!(d_pt, d);
}

/// ht's global rotation: the identity unless the angle is large enough.
#[backprop]
fn rotated_norm(theta: &[f64]) -> f64 {
    let norm = (theta[0] * theta[0] + theta[1] * theta[1]).sqrt();
    let mut global = [1.0, 0.0, 0.0, 1.0];
    if norm >= 1e-4 {
        let (c, s) = (norm.cos(), norm.sin());
        global[0] = c;
        global[1] = -s * theta[0] / norm;
        global[2] = s * theta[1] / norm;
        global[3] = c;
    }
    global[0] * 2.0 + global[1] - global[2] * global[3]
}

#[test]
fn a_constant_array_literal_made_mutable() {
    let theta = [0.3, -0.4];
    let reference = |p: &[Dual64]| {
        let norm = (p[0] * p[0] + p[1] * p[1]).sqrt();
        let (cs, sn) = (norm.cos(), norm.sin());
        cs * 2.0 - sn * p[0] / norm - sn * p[1] / norm * cs
    };
    assert_gradient_exact(
        "rotated_norm",
        &theta,
        rotated_norm_grad(&theta),
        dual_gradient(reference, &theta),
        rotated_norm,
        1e-12,
    );
    // Below the threshold the identity is kept: no gradient.
    assert_eq!(rotated_norm_grad(&[1e-5, 0.0]), (2.0, vec![0.0, 0.0]));
}
