//! Derivatives inside differentiated code (DESIGN.md, "Forward mode and second order"): a
//! function calls `g_jvp` or `g_grad` and is differentiated in turn, by reverse or forward
//! mode. What the caller's companions call (the naming rule of `g_backward`):
//!
//! | the caller's body calls | differentiated by | it calls     | which g gets from       |
//! |-------------------------|-------------------|--------------|-------------------------|
//! | `g_jvp`                 | reverse mode      | `g_jvp_backward` | `#[backprop(jvp, hvp)]` |
//! | `g_jvp` (float `g`)     | forward mode      | `g_jvp_jvp`      | `#[backprop(jvp, hvp)]` |
//! | `g_grad`                | forward mode      | `g_grad_jvp`     | `#[backprop(hvp)]`      |
//! | `g_grad`                | reverse mode      | `g_grad_backward`| `#[backprop(hvp)]`      |
//!
//! GradBench's `particle` and `saddle` evals are these four combinations. The companions are
//! checked against hyper-dual numbers (num-dual's `HyperDual64`, which give exact second
//! partial derivatives), and the callers against those and against central differences.

#![allow(clippy::needless_range_loop)]

use backprop::backprop;
use ndarray::{Array1, Array2, array};
use num_dual::{Dual64, DualNum, HyperDual64};

/// A saddle-shaped objective with mixed second derivatives everywhere.
#[backprop(jvp, hvp)]
fn objective(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    let a = x1 * x1 * y1 + (x2 * y2).sin();
    let b = y1 * y1 * x2 - (0.3 * x1 * y2).exp();
    a - b
}

fn objective_ref(p: &[HyperDual64]) -> HyperDual64 {
    let (x1, x2, y1, y2) = (p[0], p[1], p[2], p[3]);
    let a = x1 * x1 * y1 + (x2 * y2).sin();
    let b = y1 * y1 * x2 - (x1 * y2 * 0.3).exp();
    a - b
}

/// Value, gradient and Hessian of `objective` at `p`, exactly: one hyper-dual pass per pair.
fn exact(p: [f64; 4]) -> (f64, [f64; 4], [[f64; 4]; 4]) {
    let (mut value, mut gradient, mut hessian) = (0.0, [0.0; 4], [[0.0; 4]; 4]);
    for i in 0..4 {
        for j in 0..4 {
            let seeded: Vec<HyperDual64> = (0..4)
                .map(|k| {
                    let e = |on: usize| if k == on { 1.0 } else { 0.0 };
                    HyperDual64::new(p[k], e(i), e(j), 0.0)
                })
                .collect();
            let out = objective_ref(&seeded);
            value = out.re;
            gradient[i] = out.eps1;
            hessian[i][j] = out.eps1eps2;
        }
    }
    (value, gradient, hessian)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn times(h: &[[f64; 4]; 4], v: &[f64; 4]) -> [f64; 4] {
    std::array::from_fn(|i| dot(&h[i], v))
}

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * 1f64.max(x.abs().max(y.abs())),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

const POINTS: [[f64; 4]; 3] = [
    [0.3, -0.7, 1.1, 0.4],
    [-1.2, 0.5, 0.25, -0.9],
    [0.8, 1.3, -0.6, 1.7],
];

#[test]
fn the_companions_against_hyper_dual_numbers() {
    let (t, s_p, s_t) = (
        [0.5, -1.0, 0.25, 2.0],
        [1.5, 0.3, -0.7, 0.2],
        [-0.4, 0.9, 1.1, -0.3],
    );
    for p in POINTS {
        let (value, g, h) = exact(p);
        let ht = times(&h, &t);
        let hs = times(&h, &s_p);

        // g_grad_jvp: ((f, ∇f), (∇f·s, H·s)).
        let ((v, (g1, g2, g3, g4)), (dv, (h1, h2, h3, h4))) =
            objective_grad_jvp(p[0], p[1], p[2], p[3], s_p[0], s_p[1], s_p[2], s_p[3]);
        close("value", &[v], &[value], 1e-15);
        close("gradient", &[g1, g2, g3, g4], &g, 1e-14);
        close("∇f·s", &[dv], &[dot(&g, &s_p)], 1e-14);
        close("H·s", &[h1, h2, h3, h4], &hs, 1e-13);

        // g_jvp_backward: ((f, ∇f·t), (a ∇f + b H t, b ∇f)) for the upstream (a, b).
        let (a, b) = (0.7, -1.3);
        let ((v, tangent), gradients) =
            objective_jvp_backward(p[0], p[1], p[2], p[3], t[0], t[1], t[2], t[3], (a, b));
        close("value", &[v, tangent], &[value, dot(&g, &t)], 1e-14);
        let (d_p, d_t) = (
            [gradients.0, gradients.1, gradients.2, gradients.3],
            [gradients.4, gradients.5, gradients.6, gradients.7],
        );
        let expected: Vec<f64> = (0..4).map(|i| a * g[i] + b * ht[i]).collect();
        close("d_p", &d_p, &expected, 1e-13);
        close("d_t", &d_t, &g.map(|gi| b * gi), 1e-14);

        // g_jvp_jvp: ((f, ∇f·t), (∇f·s_p, tᵀ H s_p + ∇f·s_t)).
        let ((v, tangent), (dv, dtangent)) = objective_jvp_jvp(
            p[0], p[1], p[2], p[3], t[0], t[1], t[2], t[3], s_p[0], s_p[1], s_p[2], s_p[3], s_t[0],
            s_t[1], s_t[2], s_t[3],
        );
        close("value", &[v, tangent], &[value, dot(&g, &t)], 1e-14);
        let expected = dot(&t, &hs) + dot(&g, &s_t);
        close(
            "tangents",
            &[dv, dtangent],
            &[dot(&g, &s_p), expected],
            1e-13,
        );
    }
}

// GradBench saddle's inner gradient, ∂f/∂y, used by an outer function of x: its four
// variants (rr and the three below).

/// `rf`: the inner derivatives by forward mode, the outer gradient by reverse.
#[backprop(wrt(x1, x2))]
fn max_rf(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    let (_, dy1) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
    let (_, dy2) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
    dy1 * dy2 + y1 * dy1
}

/// `ff`: forward over forward.
#[backprop(wrt(x1, x2), jvp)]
fn max_ff(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    let (_, dy1) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
    let (_, dy2) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
    dy1 * dy2 + y1 * dy1
}

/// `fr`: the inner gradient by reverse mode, the outer derivative by forward.
#[backprop(wrt(x1, x2), jvp)]
fn max_fr(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    let (_, (_, _, dy1, dy2)) = objective_grad(x1, x2, y1, y2);
    dy1 * dy2 + y1 * dy1
}

/// ∂/∂x₁ and ∂/∂x₂ of `f_y1 f_y2 + y1 f_y1`, from the exact Hessian.
fn max_gradient(p: [f64; 4]) -> (f64, [f64; 2]) {
    let (_, g, h) = exact(p);
    let value = g[2] * g[3] + p[2] * g[2];
    let d = |i: usize| h[2][i] * g[3] + g[2] * h[3][i] + p[2] * h[2][i];
    (value, [d(0), d(1)])
}

#[test]
fn a_gradient_inside_by_all_four_combinations() {
    for p in POINTS {
        let (value, expected) = max_gradient(p);
        let (v, (d1, d2)) = max_rf_grad(p[0], p[1], p[2], p[3]);
        close(
            "rf",
            &[v, d1, d2],
            &[value, expected[0], expected[1]],
            1e-13,
        );
        let central =
            backprop::numeric_gradient(|x: &[f64]| max_rf(x[0], x[1], p[2], p[3]), &p[..2]);
        close("rf central", &[d1, d2], &central, 1e-6);

        let direction = [0.6, -1.4];
        let along = dot(&expected, &direction);
        let (v, t) = max_ff_jvp(p[0], p[1], p[2], p[3], direction[0], direction[1]);
        close("ff", &[v, t], &[value, along], 1e-13);
        let (v, t) = max_fr_jvp(p[0], p[1], p[2], p[3], direction[0], direction[1]);
        close("fr", &[v, t], &[value, along], 1e-13);
        // The same as rr's, `g_grad` differentiated by reverse mode.
        let (_, (r1, r2)) = max_rr_grad(p[0], p[1], p[2], p[3]);
        close("rr", &[r1, r2], &expected, 1e-13);
    }
}

#[backprop(wrt(x1, x2))]
fn max_rr(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    let (_, (_, _, dy1, dy2)) = objective_grad(x1, x2, y1, y2);
    dy1 * dy2 + y1 * dy1
}

// GradBench particle's form: the force is the derivative of a potential, inside a loop that
// steps a simulation; the outer derivative is the launch parameter's.

#[allow(clippy::too_many_arguments)]
#[backprop(jvp, hvp)]
fn potential(ax: f64, ay: f64, px: f64, py: f64) -> f64 {
    let d = ((px - ax) * (px - ax) + (py - ay) * (py - ay)).sqrt();
    1.0 / d + 0.1 * px * py
}

/// Euler steps of a particle launched with vertical speed `w`, the force `−∇ₚ potential`
/// by forward mode.
#[backprop(jvp)]
fn flight_ff(w: f64) -> f64 {
    let (mut x, mut y, mut vx, mut vy) = (0.0, 2.0, 1.0, w);
    for _ in 0..20 {
        let (_, gx) = potential_jvp(3.0, 0.5, x, y, 0.0, 0.0, 1.0, 0.0);
        let (_, gy) = potential_jvp(3.0, 0.5, x, y, 0.0, 0.0, 0.0, 1.0);
        x += 0.05 * vx;
        y += 0.05 * vy;
        vx -= 0.05 * gx;
        vy -= 0.05 * gy;
    }
    x * x + y * y
}

/// The same with the force by reverse mode, `potential_grad`.
#[backprop(jvp)]
fn flight_fr(w: f64) -> f64 {
    let (mut x, mut y, mut vx, mut vy) = (0.0, 2.0, 1.0, w);
    for _ in 0..20 {
        let (_, (_, _, gx, gy)) = potential_grad(3.0, 0.5, x, y);
        x += 0.05 * vx;
        y += 0.05 * vy;
        vx -= 0.05 * gx;
        vy -= 0.05 * gy;
    }
    x * x + y * y
}

/// The same with the force by forward mode, differentiated by reverse mode.
#[backprop]
fn flight_rf(w: f64) -> f64 {
    let (mut x, mut y, mut vx, mut vy) = (0.0, 2.0, 1.0, w);
    for _ in 0..20 {
        let (_, gx) = potential_jvp(3.0, 0.5, x, y, 0.0, 0.0, 1.0, 0.0);
        let (_, gy) = potential_jvp(3.0, 0.5, x, y, 0.0, 0.0, 0.0, 1.0);
        x += 0.05 * vx;
        y += 0.05 * vy;
        vx -= 0.05 * gx;
        vy -= 0.05 * gy;
    }
    x * x + y * y
}

/// The reference: the force from the potential's closed-form gradient, in dual numbers of w.
fn flight_ref(w: Dual64) -> Dual64 {
    let c = |v: f64| Dual64::from_re(v);
    let (mut x, mut y, mut vx, mut vy) = (c(0.0), c(2.0), c(1.0), w);
    for _ in 0..20 {
        let (dx, dy) = (x - 3.0, y - 0.5);
        let d3 = (dx * dx + dy * dy).powf(1.5);
        let gx = -dx / d3 + y * 0.1;
        let gy = -dy / d3 + x * 0.1;
        x += vx * 0.05;
        y += vy * 0.05;
        vx -= gx * 0.05;
        vy -= gy * 0.05;
    }
    x * x + y * y
}

#[test]
fn a_simulation_stepped_by_a_derivative() {
    for w in [0.0, 0.4, -0.7] {
        let reference = flight_ref(Dual64::new(w, 1.0));
        let central = backprop::numeric_gradient(|p: &[f64]| flight_rf(p[0]), &[w]);
        for (what, (v, d)) in [
            ("ff", flight_ff_jvp(w, 1.0)),
            ("fr", flight_fr_jvp(w, 1.0)),
            ("rf", flight_rf_grad(w)),
        ] {
            close(what, &[v, d], &[reference.re, reference.eps], 1e-12);
            close(what, &[d], &central, 1e-6);
        }
    }
}

// A `g` with a slice parameter, a loop and a parameter left out by `wrt`: the directions of
// `g_jvp_jvp` and the gradients of `g_jvp_backward` are typed like the arguments.

#[backprop(jvp, hvp, wrt(x, w))]
fn weighted(x: f64, n: usize, w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        s += (w[i] * x).sin() * w[i];
    }
    s * x
}

fn weighted_ref(x: HyperDual64, w: &[HyperDual64]) -> HyperDual64 {
    let mut s = HyperDual64::from_re(0.0);
    for wi in w {
        s += (*wi * x).sin() * *wi;
    }
    s * x
}

/// The derivative of `weighted` along all the weights together, scaled by x.
#[backprop(wrt(x, w), jvp)]
fn along_the_weights(x: f64, w: &[f64]) -> f64 {
    let ones = vec![1.0; w.len()];
    let (_, d) = weighted_jvp(x, w.len(), w, 0.0, &ones);
    d * x
}

#[test]
fn slices_loops_and_wrt_inside() {
    let (x, w) = (0.7, [0.5, -1.25, 2.0]);
    // ∂f/∂wᵢ and ∂²f/∂wᵢ∂x, ∂²f/∂wᵢ∂wⱼ from hyper-dual numbers.
    let partials = |i: usize, second: Option<usize>| {
        let xs = HyperDual64::new(x, 0.0, if second.is_none() { 1.0 } else { 0.0 }, 0.0);
        let ws: Vec<HyperDual64> = (0..3)
            .map(|j| {
                let e1 = if j == i { 1.0 } else { 0.0 };
                let e2 = if Some(j) == second { 1.0 } else { 0.0 };
                HyperDual64::new(w[j], e1, e2, 0.0)
            })
            .collect();
        let out = weighted_ref(xs, &ws);
        (out.eps1, out.eps1eps2)
    };
    let d: f64 = (0..3).map(|i| partials(i, None).0).sum();
    let d_x: f64 = (0..3).map(|i| partials(i, None).1).sum();
    // d(x · Σᵢ ∂f/∂wᵢ)/dx and /dwⱼ.
    let expected_x = d + x * d_x;
    let expected_w: Vec<f64> = (0..3)
        .map(|j| x * (0..3).map(|i| partials(i, Some(j)).1).sum::<f64>())
        .collect();
    let (value, (g_x, g_w)) = along_the_weights_grad(x, &w);
    close("value", &[value], &[d * x], 1e-14);
    close("d_x", &[g_x], &[expected_x], 1e-13);
    close("d_w", &g_w, &expected_w, 1e-13);
    let central = backprop::numeric_gradient(
        |p: &[f64]| along_the_weights(p[0], &p[1..]),
        &[x, w[0], w[1], w[2]],
    );
    close("central", &[g_x, g_w[0], g_w[1], g_w[2]], &central, 1e-6);
    let s_w = [0.3, -0.6, 0.9];
    let (_, t) = along_the_weights_jvp(x, &w, 0.5, &s_w);
    let directional =
        0.5 * expected_x + expected_w.iter().zip(s_w).map(|(g, s)| g * s).sum::<f64>();
    close("jvp", &[t], &[directional], 1e-13);
}

// An array-valued `g`: its `g_jvp` called by a loss that penalises a layer's sensitivity to
// its input, ‖J·t‖², differentiated with respect to the weights (by reverse mode: `g_jvp_jvp`
// is written for a float `g` only).

#[backprop(jvp, hvp)]
fn layer(x: &Array1<f64>, w: &Array2<f64>) -> Array1<f64> {
    w.dot(x).mapv(f64::tanh)
}

#[backprop(wrt(w))]
fn sensitivity(x: &Array1<f64>, w: &Array2<f64>, t: &Array1<f64>) -> f64 {
    let no_change = Array2::zeros(w.dim());
    let (y, ty): (Array1<f64>, Array1<f64>) = layer_jvp(x, w, t, &no_change);
    (&ty * &ty).sum() + 0.5 * y.sum()
}

/// The reference in dual numbers of the weights.
fn sensitivity_ref(x: &[f64], w: &[Dual64], t: &[f64], columns: usize) -> Dual64 {
    let mut total = Dual64::from_re(0.0);
    for row in w.chunks(columns) {
        let (mut z, mut tz) = (Dual64::from_re(0.0), Dual64::from_re(0.0));
        for j in 0..columns {
            z += row[j] * x[j];
            tz += row[j] * t[j];
        }
        let y = z.tanh();
        let ty = (-y * y + 1.0) * tz;
        total += ty * ty + y * 0.5;
    }
    total
}

#[test]
fn an_array_function_s_jvp_inside_a_loss() {
    let x = array![0.3, -0.5];
    let t = array![1.0, 0.5];
    let w = array![[0.2, 0.4], [-0.3, 0.7], [0.1, 0.1]];
    let direction = array![[1.0, -0.5], [0.25, 2.0], [-1.0, 0.3]];
    let flat = w.iter().copied().collect::<Vec<_>>();
    let (v, g) = sensitivity_grad(&x, &w, &t);
    let mut along = 0.0;
    for (k, (gk, dk)) in g.iter().zip(direction.iter()).enumerate() {
        let seeded: Vec<Dual64> = (0..flat.len())
            .map(|m| Dual64::new(flat[m], if m == k { 1.0 } else { 0.0 }))
            .collect();
        let reference = sensitivity_ref(x.as_slice().unwrap(), &seeded, t.as_slice().unwrap(), 2);
        close("value", &[v], &[reference.re], 1e-14);
        close("gradient", &[*gk], &[reference.eps], 1e-13);
        along += reference.eps * dk;
    }
    let directional: f64 = g.iter().zip(direction.iter()).map(|(a, b)| a * b).sum();
    close("<grad, direction>", &[directional], &[along], 1e-13);
    let central = backprop::numeric_gradient(
        |p: &[f64]| sensitivity(&x, &Array2::from_shape_vec((3, 2), p.to_vec()).unwrap(), &t),
        &flat,
    );
    close(
        "central",
        &g.iter().copied().collect::<Vec<_>>(),
        &central,
        1e-6,
    );
}

// f32: the same composition in single precision.

#[backprop(jvp, hvp)]
fn objective32(x1: f32, x2: f32, y1: f32, y2: f32) -> f32 {
    let a = x1 * x1 * y1 + (x2 * y2).sin();
    let b = y1 * y1 * x2 - (0.3 * x1 * y2).exp();
    a - b
}

#[backprop(wrt(x1, x2))]
fn max_rf32(x1: f32, x2: f32, y1: f32, y2: f32) -> f32 {
    let (_, dy1) = objective32_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
    let (_, dy2) = objective32_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
    dy1 * dy2 + y1 * dy1
}

#[backprop(wrt(x1, x2), jvp)]
fn max_ff32(x1: f32, x2: f32, y1: f32, y2: f32) -> f32 {
    let (_, dy1) = objective32_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
    let (_, dy2) = objective32_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
    dy1 * dy2 + y1 * dy1
}

#[backprop(wrt(x1, x2), jvp)]
fn max_fr32(x1: f32, x2: f32, y1: f32, y2: f32) -> f32 {
    let (_, (_, _, dy1, dy2)) = objective32_grad(x1, x2, y1, y2);
    dy1 * dy2 + y1 * dy1
}

#[test]
fn in_f32() {
    for p in POINTS {
        let (value, expected) = max_gradient(p);
        let q = p.map(|v| v as f32);
        let (v, (d1, d2)) = max_rf32_grad(q[0], q[1], q[2], q[3]);
        let got = [v, d1, d2].map(f64::from);
        close("rf32", &got, &[value, expected[0], expected[1]], 1e-4);
        let (v, t) = max_ff32_jvp(q[0], q[1], q[2], q[3], 1.0, 0.0);
        close(
            "ff32",
            &[f64::from(v), f64::from(t)],
            &[value, expected[0]],
            1e-4,
        );
        let (v, t) = max_fr32_jvp(q[0], q[1], q[2], q[3], 0.0, 1.0);
        close(
            "fr32",
            &[f64::from(v), f64::from(t)],
            &[value, expected[1]],
            1e-4,
        );
    }
}

// An array-valued `g` that calls nothing, its `g_jvp` inside a function differentiated by
// forward mode: `g_jvp_jvp`, forward mode over `g`'s tangent function.

#[backprop(jvp, hvp)]
fn field(x: &Array1<f64>, k: f64) -> Array1<f64> {
    let z = x * k;
    &z * &z + x
}

#[backprop(jvp)]
fn along_the_field(x: &Array1<f64>, k: f64) -> f64 {
    let ones = Array1::ones(x.len());
    let (y, dy): (Array1<f64>, Array1<f64>) = field_jvp(x, k, &ones, 0.0);
    (&y * &dy).sum()
}

#[test]
fn an_array_function_s_jvp_inside_forward_mode() {
    // y = k²x² + x, J·1 = 2k²x + 1: along_the_field = Σ y (2k²x + 1).
    let reference = |v: &[Dual64]| {
        let k = v[2];
        (0..2).fold(Dual64::from_re(0.0), |total, i| {
            let x = v[i];
            total + (k * k * x * x + x) * (k * k * x * 2.0 + 1.0)
        })
    };
    let x = array![0.3, -0.5];
    let k = 2.0;
    for t in [[0.0, 0.0, 1.0], [1.0, -0.5, 0.25]] {
        let (value, tangent) = along_the_field_jvp(&x, k, &array![t[0], t[1]], t[2]);
        let seeded: Vec<Dual64> = [0.3, -0.5, k]
            .iter()
            .zip(t)
            .map(|(&p, d)| Dual64::new(p, d))
            .collect();
        let exact = reference(&seeded);
        assert_eq!(value, along_the_field(&x, k));
        close("value", &[value], &[exact.re], 1e-14);
        close("tangent", &[tangent], &[exact.eps], 1e-13);
    }
    // `field_jvp_jvp` itself: ((y, J·t), (J·s, its derivative)) against dual numbers.
    let (s_x, s_k) = (array![0.5, 0.0], 1.0);
    let ((y, jt), (js, d_jt)) = field_jvp_jvp(
        &x,
        k,
        &array![1.0, 1.0],
        0.0,
        &s_x,
        s_k,
        &array![0.0, 0.0],
        0.0,
    );
    for i in 0..2 {
        let xi = Dual64::new(x[i], s_x[i]);
        let kd = Dual64::new(k, s_k);
        let yi = kd * kd * xi * xi + xi;
        let jti = kd * kd * xi * 2.0 + 1.0;
        close("y", &[y[i], js[i]], &[yi.re, yi.eps], 1e-14);
        close("J·t", &[jt[i], d_jt[i]], &[jti.re, jti.eps], 1e-14);
    }
}
