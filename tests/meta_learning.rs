//! Losses that take a gradient step inside (DESIGN.md, "Forward mode and second order"):
//! MAML's meta-loss, the query loss after one or two steps of gradient descent on the
//! support set (Finn et al., "Model-agnostic meta-learning"), and the sharpness-aware loss,
//! the loss at the weights moved up the gradient by `rho` (Foret et al., "Sharpness-aware
//! minimization"; here its exact gradient, through the normalised gradient, not the paper's
//! first-order approximation). Both are written as in numpy/JAX code: `mse_grad` called in
//! the body, its gradient used in arrays, the inner loss called again; their gradients go
//! through `mse_grad_backward`, so through the Hessian of the inner loss. Checked against
//! dual numbers (the inner gradient in closed form, differentiated exactly) and central
//! differences, in f64 and f32, and the `jvp` of the meta-loss against the dual directional
//! derivative.

mod common;

use backprop::backprop;
use common::{central_directional, check_snapshot, close, dual_directional, dual_gradient};
use ndarray::{Array1, Array2};
use num_dual::{Dual, DualNum, DualNumFloat};

/// The inner loss: a one-layer tanh regression's mean squared error.
#[backprop(jvp, hvp)]
fn mse(w: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>) -> f64 {
    let p = x.dot(w).mapv(f64::tanh);
    let r = &p - y;
    (&r * &r).mean().unwrap()
}

/// MAML with one inner step: adapt on the support set, score on the query set.
#[backprop(wrt(w), jvp)]
fn maml(
    w: &Array1<f64>,
    x_support: &Array2<f64>,
    y_support: &Array1<f64>,
    x_query: &Array2<f64>,
    y_query: &Array1<f64>,
    inner_lr: f64,
) -> f64 {
    let (_, (g, _, _)) = mse_grad(w, x_support, y_support);
    let adapted = w - inner_lr * &g;
    mse(&adapted, x_query, y_query)
}

/// MAML with two inner steps: the second step's gradient is taken at the adapted weights.
#[backprop(wrt(w))]
fn maml_two_steps(
    w: &Array1<f64>,
    x_support: &Array2<f64>,
    y_support: &Array1<f64>,
    x_query: &Array2<f64>,
    y_query: &Array1<f64>,
    inner_lr: f64,
) -> f64 {
    let (_, (g1, _, _)) = mse_grad(w, x_support, y_support);
    let w1 = w - inner_lr * &g1;
    let (_, (g2, _, _)) = mse_grad(&w1, x_support, y_support);
    let w2 = &w1 - inner_lr * &g2;
    mse(&w2, x_query, y_query)
}

/// The sharpness-aware loss: the loss at `w + rho · g / ‖g‖`.
#[backprop(wrt(w))]
fn sam(w: &Array1<f64>, x: &Array2<f64>, y: &Array1<f64>, rho: f64) -> f64 {
    let (_, (g, _, _)) = mse_grad(w, x, y);
    let norm = (&g * &g).sum().sqrt();
    let w_adv = w + rho / norm * &g;
    mse(&w_adv, x, y)
}

/// `mse` for the references, over any dual number type.
fn mse_ref<F: DualNumFloat, D: DualNum<Primitive = F> + Copy>(w: &[D], x: &[Vec<F>], y: &[F]) -> D {
    let mut sum = D::zero();
    for (row, &yi) in x.iter().zip(y) {
        let z = w
            .iter()
            .zip(row)
            .fold(D::zero(), |s, (&wj, &xj)| s + wj * xj);
        let r = z.tanh() - D::from(yi);
        sum += r * r;
    }
    sum / F::from_usize(y.len()).unwrap()
}

/// `mse`'s gradient in closed form, `(2/n) Σᵢ (pᵢ − yᵢ)(1 − pᵢ²) xᵢ`, so that the
/// references differentiate it exactly.
fn mse_grad_ref<F: DualNumFloat, D: DualNum<Primitive = F> + Copy>(
    w: &[D],
    x: &[Vec<F>],
    y: &[F],
) -> Vec<D> {
    let two_over_n = F::from_f64(2.0).unwrap() / F::from_usize(y.len()).unwrap();
    let mut g = vec![D::zero(); w.len()];
    for (row, &yi) in x.iter().zip(y) {
        let z = w
            .iter()
            .zip(row)
            .fold(D::zero(), |s, (&wj, &xj)| s + wj * xj);
        let p = z.tanh();
        let factor = (p - D::from(yi)) * (D::one() - p * p) * two_over_n;
        for (gj, &xj) in g.iter_mut().zip(row) {
            *gj += factor * xj;
        }
    }
    g
}

fn step<F: DualNumFloat, D: DualNum<Primitive = F> + Copy>(w: &[D], g: &[D], by: F) -> Vec<D> {
    w.iter().zip(g).map(|(&wj, &gj)| wj - gj * by).collect()
}

struct Task<F> {
    x_support: Vec<Vec<F>>,
    y_support: Vec<F>,
    x_query: Vec<Vec<F>>,
    y_query: Vec<F>,
}

impl<F: DualNumFloat> Task<F> {
    fn maml<D: DualNum<Primitive = F> + Copy>(&self, w: &[D], lr: F, steps: usize) -> D {
        let mut adapted = w.to_vec();
        for _ in 0..steps {
            let g = mse_grad_ref(&adapted, &self.x_support, &self.y_support);
            adapted = step(&adapted, &g, lr);
        }
        mse_ref(&adapted, &self.x_query, &self.y_query)
    }

    fn sam<D: DualNum<Primitive = F> + Copy>(&self, w: &[D], rho: F) -> D {
        let g = mse_grad_ref(w, &self.x_support, &self.y_support);
        let norm = g.iter().fold(D::zero(), |s, &gj| s + gj * gj).sqrt();
        let moved: Vec<D> = w
            .iter()
            .zip(&g)
            .map(|(&wj, &gj)| wj + gj * rho / norm)
            .collect();
        mse_ref(&moved, &self.x_support, &self.y_support)
    }
}

/// A small task of made-up data: `n` support and query points in `d` dimensions.
fn task(n: usize, d: usize, seed: f64) -> Task<f64> {
    let rows = |at: f64| -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * d + j) as f64 * at + seed).sin())
                    .collect()
            })
            .collect()
    };
    let targets =
        |at: f64| -> Vec<f64> { (0..n).map(|i| 0.5 * (i as f64 * at + seed).cos()).collect() };
    Task {
        x_support: rows(0.7),
        y_support: targets(1.3),
        x_query: rows(1.9),
        y_query: targets(0.4),
    }
}

fn array2(rows: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

const POINTS: [[f64; 3]; 3] = [[0.3, -0.2, 0.5], [-0.8, 0.4, 0.1], [1.2, 0.9, -0.6]];

#[test]
fn maml_against_dual_numbers_and_central_differences() {
    let t = task(5, 3, 0.2);
    let (xs, ys) = (array2(&t.x_support), Array1::from(t.y_support.clone()));
    let (xq, yq) = (array2(&t.x_query), Array1::from(t.y_query.clone()));
    let lr = 0.4;
    for w in POINTS {
        let wa = Array1::from(w.to_vec());
        let (value, g) = maml_grad(&wa, &xs, &ys, &xq, &yq, lr);
        let (exact_value, exact) = dual_gradient(|w: &[Dual<f64>]| t.maml(w, lr, 1), &w);
        assert!(
            (value - exact_value).abs() <= 1e-14,
            "{value} vs {exact_value}"
        );
        close(
            "maml's gradient against dual numbers",
            g.as_slice().unwrap(),
            &exact,
            1e-12,
        );
        let f = |w: &[f64]| maml(&Array1::from(w.to_vec()), &xs, &ys, &xq, &yq, lr);
        let numeric: Vec<f64> = (0..3)
            .map(|j| central_directional(f, &w, &unit(j), 1e-6))
            .collect();
        close(
            "maml's gradient against central differences",
            g.as_slice().unwrap(),
            &numeric,
            1e-7,
        );

        // Its tangent, through `mse_grad_jvp` and `mse_jvp`.
        let direction = [0.6, -0.3, 0.9];
        let (jvp_value, tangent) = maml_jvp(
            &wa,
            &xs,
            &ys,
            &xq,
            &yq,
            lr,
            &Array1::from(direction.to_vec()),
        );
        let (_, exact_tangent) =
            dual_directional(|w: &[Dual<f64>]| t.maml(w, lr, 1), &w, &direction);
        assert_eq!(jvp_value, value);
        close("maml's tangent", &[tangent], &[exact_tangent], 1e-12);

        let (value, g) = maml_two_steps_grad(&wa, &xs, &ys, &xq, &yq, lr);
        let (exact_value, exact) = dual_gradient(|w: &[Dual<f64>]| t.maml(w, lr, 2), &w);
        assert!(
            (value - exact_value).abs() <= 1e-14,
            "{value} vs {exact_value}"
        );
        close(
            "two steps against dual numbers",
            g.as_slice().unwrap(),
            &exact,
            1e-12,
        );
        let f = |w: &[f64]| maml_two_steps(&Array1::from(w.to_vec()), &xs, &ys, &xq, &yq, lr);
        let numeric: Vec<f64> = (0..3)
            .map(|j| central_directional(f, &w, &unit(j), 1e-6))
            .collect();
        close(
            "two steps against central differences",
            g.as_slice().unwrap(),
            &numeric,
            1e-7,
        );
    }
}

#[test]
fn sam_against_dual_numbers_and_central_differences() {
    let t = task(6, 3, 1.1);
    let (x, y) = (array2(&t.x_support), Array1::from(t.y_support.clone()));
    let rho = 0.05;
    for w in POINTS {
        let wa = Array1::from(w.to_vec());
        let (value, g) = sam_grad(&wa, &x, &y, rho);
        let (exact_value, exact) = dual_gradient(|w: &[Dual<f64>]| t.sam(w, rho), &w);
        assert!(
            (value - exact_value).abs() <= 1e-14,
            "{value} vs {exact_value}"
        );
        close(
            "sam's gradient against dual numbers",
            g.as_slice().unwrap(),
            &exact,
            1e-12,
        );
        let f = |w: &[f64]| sam(&Array1::from(w.to_vec()), &x, &y, rho);
        let numeric: Vec<f64> = (0..3)
            .map(|j| central_directional(f, &w, &unit(j), 1e-6))
            .collect();
        close(
            "sam's gradient against central differences",
            g.as_slice().unwrap(),
            &numeric,
            1e-7,
        );
    }
}

fn unit(j: usize) -> Vec<f64> {
    (0..3).map(|k| if k == j { 1.0 } else { 0.0 }).collect()
}

#[backprop(hvp)]
fn mse32(w: &Array1<f32>, x: &Array2<f32>, y: &Array1<f32>) -> f32 {
    let p = x.dot(w).mapv(f32::tanh);
    let r = &p - y;
    (&r * &r).mean().unwrap()
}

#[backprop(wrt(w))]
fn maml32(
    w: &Array1<f32>,
    x_support: &Array2<f32>,
    y_support: &Array1<f32>,
    x_query: &Array2<f32>,
    y_query: &Array1<f32>,
    inner_lr: f32,
) -> f32 {
    let (_, (g, _, _)) = mse32_grad(w, x_support, y_support);
    let adapted = w - inner_lr * &g;
    mse32(&adapted, x_query, y_query)
}

#[test]
fn maml_in_f32() {
    let t = task(5, 3, 0.2);
    let narrow = |rows: &[Vec<f64>]| -> Vec<Vec<f32>> {
        rows.iter()
            .map(|r| r.iter().map(|&v| v as f32).collect())
            .collect()
    };
    let t32 = Task {
        x_support: narrow(&t.x_support),
        y_support: t.y_support.iter().map(|&v| v as f32).collect(),
        x_query: narrow(&t.x_query),
        y_query: t.y_query.iter().map(|&v| v as f32).collect(),
    };
    let a2 = |rows: &[Vec<f32>]| Array2::from_shape_fn((rows.len(), 3), |(i, j)| rows[i][j]);
    let (xs, ys) = (a2(&t32.x_support), Array1::from(t32.y_support.clone()));
    let (xq, yq) = (a2(&t32.x_query), Array1::from(t32.y_query.clone()));
    for w in POINTS {
        let w: [f32; 3] = w.map(|v| v as f32);
        let (value, g) = maml32_grad(&Array1::from(w.to_vec()), &xs, &ys, &xq, &yq, 0.4);
        let (exact_value, exact) = dual_gradient(|w: &[Dual<f32>]| t32.maml(w, 0.4, 1), &w);
        assert!((value - exact_value).abs() <= 1e-5 * exact_value.abs().max(1.0));
        for (a, b) in g.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{g} vs {exact:?}");
        }
    }
}

/// The generated meta-gradient keeps its shape: the query loss's backward gives the value, the
/// inner gradient's backward the second-order term.
#[test]
fn maml_backward_snapshot() {
    check_snapshot("maml", maml_backward_source());
}
