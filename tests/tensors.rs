//! Vectorized code on ndarray: every tensor operation and the course's losses, checked
//! against central differences.

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, ArrayView2, Axis, array};

/// Central-difference check of `analytic` (flattened) against `f` at `at`.
fn check(what: &str, at: &[f64], analytic: &[f64], f: impl Fn(&[f64]) -> f64) {
    let numeric = backprop::numeric_gradient(f, at);
    assert_eq!(analytic.len(), numeric.len(), "{what}");
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        let error = backprop::relative_error(*a, *n);
        assert!(
            error < 1e-7 || (a - n).abs() < 1e-9,
            "{what}: component {i}: analytic {a} numeric {n} (relative error {error:e})"
        );
    }
}

fn flat2(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

fn from_flat(shape: (usize, usize), p: &[f64]) -> Array2<f64> {
    Array2::from_shape_vec(shape, p.to_vec()).unwrap()
}

#[backprop]
fn elementwise(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let c = a * b + a.exp() - b / 3.0;
    let d = c.tanh() * 2.0 + (-a).sin();
    d.sum()
}

#[test]
fn elementwise_operations() {
    let a = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let b = array![[1.0, 2.0, -0.5], [0.3, -0.7, 0.9]];
    let (_, (da, db)) = elementwise_grad(&a, &b);
    let at: Vec<f64> = flat2(&a).into_iter().chain(flat2(&b)).collect();
    let analytic: Vec<f64> = flat2(&da).into_iter().chain(flat2(&db)).collect();
    check("elementwise", &at, &analytic, |p| {
        elementwise(&from_flat((2, 3), &p[..6]), &from_flat((2, 3), &p[6..]))
    });
}

#[backprop]
fn affine(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let scores = x.dot(w) + b;
    let h = backprop::relu(&scores);
    (h.mapv(f64::tanh) * 3.0).mean().unwrap()
}

#[test]
fn matrix_product_broadcast_bias_and_gates() {
    let x = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let w = array![[1.0, 2.0], [-0.5, 0.3], [-0.7, 0.9]];
    let b = array![0.1, -0.2];
    let (_, (dx, dw, db)) = affine_grad(&x, &w, &b);
    let at: Vec<f64> = flat2(&x)
        .into_iter()
        .chain(flat2(&w))
        .chain(b.iter().copied())
        .collect();
    let analytic: Vec<f64> = flat2(&dx)
        .into_iter()
        .chain(flat2(&dw))
        .chain(db.iter().copied())
        .collect();
    check("affine", &at, &analytic, |p| {
        affine(
            &from_flat((2, 3), &p[..6]),
            &from_flat((3, 2), &p[6..12]),
            &Array1::from(p[12..].to_vec()),
        )
    });
}
