//! Iterators as Rust code writes them: reductions (`x.iter().map(|v| ..).sum::<f64>()`,
//! `.product()`, `.fold(f64::NEG_INFINITY, f64::max)`, `.fold(0.0, |acc, &v| ..)`,
//! `(0..n).map(|i| ..).sum()`) and loops over elements (`.zip`, `.enumerate()`, `&x[1..]`,
//! `.rev()`, `iter_mut()` writes, labels of a `&[usize]`), each checked against dual numbers
//! (num-dual) and central differences; f32 too, and `f_jvp`.

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, array};
use common::{assert_gradient_exact, c, dual_directional, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

/// `np.log(np.sum(np.exp(x - x.max()))) + x.max()`, as Rust writes it.
#[backprop]
fn logsumexp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|&v| (v - m).exp()).sum();
    m + s.ln()
}

fn logsumexp_reference(x: &[Dual64]) -> Dual64 {
    let m = x.iter().fold(
        c(f64::NEG_INFINITY),
        |a, &b| if b.re > a.re { b } else { a },
    );
    let s = x.iter().fold(c(0.0), |a, &v| a + (v - m).exp());
    m + s.ln()
}

#[test]
fn logsumexp_with_a_fold_and_a_mapped_sum() {
    for x in [
        vec![0.5, -1.0, 2.0, 0.25],
        vec![3.0, 1.0],
        vec![-0.5, 0.1, 0.2],
    ] {
        assert_gradient_exact(
            "logsumexp",
            &x,
            logsumexp_grad(&x),
            dual_gradient(logsumexp_reference, &x),
            logsumexp,
            1e-12,
        );
    }
}

/// The same in f32, its maximum by a loop over a part, `for &v in &x[1..]`.
#[backprop]
fn logsumexp_f32(x: &[f32]) -> f32 {
    let mut m = x[0];
    for &v in &x[1..] {
        m = m.max(v);
    }
    let s = x.iter().map(|v| (v - m).exp()).sum::<f32>();
    m + s.ln()
}

#[test]
fn f32_loop_over_a_part_and_a_mapped_sum() {
    let x = [0.5f32, -1.0, 2.0, 0.25];
    let reference = |v: &[Dual32]| {
        let m = v[2];
        m + v.iter().fold(c(0.0f32), |a, &u| a + (u - m).exp()).ln()
    };
    assert_gradient_exact(
        "logsumexp_f32",
        &x,
        logsumexp_f32_grad(&x),
        dual_gradient(reference, &x),
        logsumexp_f32,
        1e-5,
    );
}

/// Mean squared error over two slices in step.
#[backprop(jvp)]
fn mse(pred: &[f64], target: &[f64]) -> f64 {
    pred.iter()
        .zip(target.iter())
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len() as f64
}

fn mse_reference(v: &[Dual64]) -> Dual64 {
    let n = v.len() / 2;
    (0..n).fold(c(0.0), |a, i| a + (v[i] - v[n + i]).powi(2)) / n as f64
}

#[test]
fn zip_map_sum() {
    let (p, t) = ([0.5, -1.0, 2.0], [0.25, 0.0, 1.0]);
    let at = [p.as_slice(), t.as_slice()].concat();
    let (value, (dp, dt)) = mse_grad(&p, &t);
    assert_gradient_exact(
        "mse",
        &at,
        (value, [dp, dt].concat()),
        dual_gradient(mse_reference, &at),
        |v| mse(&v[..3], &v[3..]),
        1e-12,
    );
    // Forward mode over the same loop: one tangent per slice.
    let (tp, tt) = ([1.0, 0.5, -2.0], [0.25, -1.0, 0.0]);
    let (value, tangent) = mse_jvp(&p, &t, &tp, &tt);
    let (ref_value, ref_tangent) =
        dual_directional(mse_reference, &at, &[tp.as_slice(), tt.as_slice()].concat());
    assert!((value - ref_value).abs() < 1e-12);
    assert!(
        (tangent - ref_tangent).abs() < 1e-12,
        "{tangent} vs {ref_tangent}"
    );
}

/// A discounted return as a fold with a closure (a recurrence), and a product.
#[backprop]
fn discounted(r: &[f64], gamma: f64) -> f64 {
    let g = r.iter().rev().fold(0.0, |acc, &x| x + gamma * acc);
    let p: f64 = r.iter().map(|v| 1.0 + 0.1 * v).product();
    g * p
}

fn discounted_reference(v: &[Dual64]) -> Dual64 {
    let (r, gamma) = (&v[..4], v[4]);
    let g = r.iter().rev().fold(c(0.0), |acc, &x| x + gamma * acc);
    let p = r.iter().fold(c(1.0), |acc, &x| acc * (x * 0.1 + 1.0));
    g * p
}

#[test]
fn fold_with_a_closure_over_a_reversed_iterator_and_a_product() {
    let r = [1.0, -0.5, 2.0, 0.25];
    let at = [r[0], r[1], r[2], r[3], 0.9];
    let (value, (dr, dgamma)) = discounted_grad(&r, 0.9);
    let mut flat = dr.clone();
    flat.push(dgamma);
    assert_gradient_exact(
        "discounted",
        &at,
        (value, flat),
        dual_gradient(discounted_reference, &at),
        |v| discounted(&v[..4], v[4]),
        1e-12,
    );
}

/// Softmax cross-entropy over a batch of rows, labels in a `&[usize]` read by `enumerate`,
/// a range reduction for each row's normaliser.
#[backprop]
fn cross_entropy(scores: &[f64], labels: &[usize], k: usize) -> f64 {
    let mut loss = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let z: f64 = (0..k).map(|j| scores[i * k + j].exp()).sum();
        loss += z.ln() - scores[i * k + y];
    }
    loss / labels.len() as f64
}

#[test]
fn labels_by_enumerate_and_a_range_reduction() {
    let scores = [0.5, -1.0, 2.0, 0.25, 1.5, -0.5];
    let labels = [2usize, 0];
    let reference = |v: &[Dual64]| {
        let mut loss = c(0.0);
        for (i, &y) in labels.iter().enumerate() {
            let z = (0..3).fold(c(0.0), |a, j| a + v[i * 3 + j].exp());
            loss += z.ln() - v[i * 3 + y];
        }
        loss / 2.0
    };
    assert_gradient_exact(
        "cross_entropy",
        &scores,
        cross_entropy_grad(&scores, &labels, 3),
        dual_gradient(reference, &scores),
        |v| cross_entropy(v, &labels, 3),
        1e-12,
    );
}

/// A hidden layer written through `iter_mut().enumerate()` (what clippy asks for instead of
/// an index loop), then a `zip` with a sub-slice and an element loop with `_`.
#[backprop]
fn layer(w: &[f64], x: &[f64]) -> f64 {
    let mut h = vec![0.0; x.len()];
    for (j, hj) in h.iter_mut().enumerate() {
        *hj = (w[j] * x[j]).tanh();
    }
    let mut s = 0.0;
    for (a, &b) in h.iter().zip(&w[1..]) {
        s += a * b;
    }
    let mut count = 0.0;
    for _ in x.iter() {
        count += 1.0;
    }
    s / count
}

#[test]
fn iter_mut_writes_and_a_zip_with_a_part() {
    let (w, x) = ([0.5, -1.0, 2.0, 0.25], [1.0, 0.5, -0.25, 2.0]);
    let reference = |v: &[Dual64]| {
        let h: Vec<Dual64> = (0..4).map(|j| (v[j] * x[j]).tanh()).collect();
        (0..3).fold(c(0.0), |a, j| a + h[j] * v[j + 1]) / 4.0
    };
    let (value, (dw, _)) = layer_grad(&w, &x);
    let at = w.to_vec();
    assert_gradient_exact(
        "layer",
        &at,
        (value, dw),
        dual_gradient(reference, &at),
        |v| layer(v, &x),
        1e-12,
    );
}

/// An ndarray vector's elements by `iter()`.
#[backprop]
fn squares(a: &Array1<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn elements_of_an_ndarray_vector() {
    let a = array![3.0, -4.0, 0.5];
    let (value, g) = squares_grad(&a);
    let norm = a.dot(&a).sqrt();
    assert!((value - norm).abs() < 1e-12);
    let expected: Array1<f64> = &a / norm;
    assert!(
        g.iter().zip(&expected).all(|(g, e)| (g - e).abs() < 1e-12),
        "{g}"
    );
}

/// The generated backward reads like the index loops: an accumulator named for the reduction,
/// each element read where it is used (no copy for the reverse pass to keep).
#[test]
fn a_reduction_is_its_loop_in_the_generated_code() {
    let source = logsumexp_backward_source();
    assert!(source.contains("for "), "{source}");
    assert!(source.contains(".max(x["), "{source}");
    assert!(!source.contains(".iter()"), "{source}");
}

/// Parts that start at a computed index (`&x[j + 1..]`, as ADBench's triangular walks are
/// written with iterators): the loop's length is `x.len() - (j + 1)` and `enumerate`'s counter
/// `k - (j + 1)`, not `x.len() - j + 1` (which read past the end) and `k - j + 1`.
#[backprop]
fn tail_weighted(x: &[f64], j: usize) -> f64 {
    let mut s = 0.0;
    for (i, v) in x[j + 1..].iter().enumerate() {
        s += v * v * (i as f64 + 1.0);
    }
    s
}

#[backprop]
fn triangle(q: &[f64], l: &[f64], d: usize) -> f64 {
    let mut out = q.to_vec();
    let mut idx = 0;
    for j in 0..d {
        let below = d - j - 1;
        for (o, &lv) in out[j + 1..].iter_mut().zip(&l[idx..idx + below]) {
            *o += lv * q[j];
        }
        idx += below;
    }
    let mut s = 0.0;
    for v in &out {
        s += v * v;
    }
    s
}

#[test]
fn parts_from_a_computed_index() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    for j in 0..3 {
        let reference = |v: &[Dual64]| {
            v[j + 1..]
                .iter()
                .enumerate()
                .fold(c(0.0), |s, (i, &v)| s + v * v * (i as f64 + 1.0))
        };
        assert_gradient_exact(
            "tail_weighted",
            &x,
            tail_weighted_grad(&x, j),
            dual_gradient(reference, &x),
            |p| tail_weighted(p, j),
            1e-14,
        );
    }
    let d = 4;
    let q = [0.5, -1.0, 0.25, 2.0];
    let l = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6];
    let at: Vec<f64> = q.iter().chain(&l).copied().collect();
    // The index loops the iterators stand for.
    #[allow(clippy::needless_range_loop)]
    let reference = |v: &[Dual64]| {
        let (q, l) = v.split_at(d);
        let mut out = q.to_vec();
        let mut idx = 0;
        for j in 0..d {
            for r in j + 1..d {
                out[r] += l[idx] * q[j];
                idx += 1;
            }
        }
        out.iter().fold(c(0.0), |s, &v| s + v * v)
    };
    let (value, (dq, dl)) = triangle_grad(&q, &l, d);
    assert_gradient_exact(
        "triangle",
        &at,
        (value, [dq, dl].concat()),
        dual_gradient(reference, &at),
        |p| triangle(&p[..d], &p[d..], d),
        1e-14,
    );
}
