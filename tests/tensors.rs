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

/// Flattens any number of arrays' entries, in order.
fn flat(arrays: &[&dyn Fn() -> Vec<f64>]) -> Vec<f64> {
    arrays.iter().flat_map(|f| f()).collect()
}

#[backprop]
fn products(m: &Array2<f64>, n: &Array2<f64>, v: &Array1<f64>, u: Array1<f64>) -> f64 {
    let mn = m.dot(n); // (2, 3) · (3, 2)
    let mv = m.dot(v); // (2, 3) · (3,)
    let um = u.dot(m); // (2,) · (2, 3)
    let uu = u.dot(&u); // (2,) · (2,)
    let t = mn.t();
    (t.dot(&mv) * &u).sum() + um.dot(v) * uu + mn.mean().unwrap()
}

#[test]
fn matrix_products_of_every_rank_combination_and_transpose() {
    let m = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let n = array![[1.0, 2.0], [-0.5, 0.3], [-0.7, 0.9]];
    let v = array![0.4, -0.6, 1.1];
    let u = array![0.9, -0.2];
    let (_, (dm, dn, dv, du)) = products_grad(&m, &n, &v, u.clone());
    let at = flat(&[&|| flat2(&m), &|| flat2(&n), &|| v.to_vec(), &|| u.to_vec()]);
    let analytic = flat(&[&|| flat2(&dm), &|| flat2(&dn), &|| dv.to_vec(), &|| {
        du.to_vec()
    }]);
    check("products", &at, &analytic, |p| {
        products(
            &from_flat((2, 3), &p[..6]),
            &from_flat((3, 2), &p[6..12]),
            &Array1::from(p[12..15].to_vec()),
            Array1::from(p[15..].to_vec()),
        )
    });
}

#[backprop]
fn reductions(a: ArrayView2<f64>, col: &Array2<f64>, row: &Array1<f64>) -> f64 {
    let centered = &a - &a.mean_axis(Axis(0)).unwrap(); // a row broadcast down the rows
    let scaled = &centered * col; // a (2, 1) column broadcast along each row
    let by_row = scaled.sum_axis(Axis(1)); // (2,)
    let by_col = (&scaled + row).mean_axis(Axis(0)).unwrap(); // (3,)
    let spread = by_row.insert_axis(Axis(1)) * &by_col.insert_axis(Axis(0)); // (2, 1) * (1, 3)
    (spread.powi(2) + (&spread * &spread + 1.0).sqrt().mapv(f64::exp)).sum()
}

#[test]
fn axis_reductions_and_broadcasting_along_either_axis() {
    let a = array![[0.5, 1.0, 0.25], [1.5, 0.2, 0.3]];
    let col = array![[0.7], [1.3]];
    let row = array![2.0, 3.0, 2.5];
    let (_, (da, dcol, drow)) = reductions_grad(a.view(), &col, &row);
    assert_eq!(dcol.shape(), &[2, 1]);
    let at = flat(&[&|| flat2(&a), &|| flat2(&col), &|| row.to_vec()]);
    let analytic = flat(&[&|| flat2(&da), &|| flat2(&dcol), &|| drow.to_vec()]);
    check("reductions", &at, &analytic, |p| {
        reductions(
            from_flat((2, 3), &p[..6]).view(),
            &from_flat((2, 1), &p[6..8]),
            &Array1::from(p[8..].to_vec()),
        )
    });
}

#[backprop]
fn tensor_gates(a: &Array2<f64>, y: &[usize]) -> f64 {
    let p = backprop::softmax(a, Axis(1));
    let top = backprop::max_axis(a, Axis(0));
    let picked = backprop::pick(&backprop::log_softmax(a, Axis(0)), y);
    let smooth = backprop::softplus(&a.mapv(backprop::sigmoid));
    let gated = backprop::sigmoid(a) * backprop::relu(a);
    (p * &smooth).sum() + top.sum() * 0.5 + picked.sum() + gated.sum()
}

#[test]
fn runtime_tensor_gates_compose() {
    let a = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let y = [2, 0];
    let (_, da) = tensor_gates_grad(&a, &y);
    check("tensor gates", &flat2(&a), &flat2(&da), |p| {
        tensor_gates(&from_flat((2, 3), p), &y)
    });
}

/// Arrays handed to the gates at their last use (computed in their buffers), a `pick` gradient
/// left unwritten into `log_softmax`'s gradient along either axis, and one written out where
/// the log-probabilities are read twice.
#[backprop]
fn handed_over(a: &Array2<f64>, b: &Array1<f64>, y: &[usize]) -> f64 {
    let z = a * 2.0 + b;
    let h = backprop::relu(&z);
    let s = backprop::sigmoid(&(h * 3.0 - 1.0));
    let by_column = backprop::log_softmax(&(&s + a), Axis(0));
    let p = backprop::softmax(&(a - 0.5), Axis(1));
    let by_row = backprop::log_softmax(&p, Axis(1));
    let twice = backprop::log_softmax(a, Axis(1));
    let picked = -backprop::pick(&by_column, y).mean().unwrap() + backprop::pick(&by_row, y).sum();
    picked + (&by_row * &p).sum() + backprop::pick(&twice, y).sum() + (twice * 0.5).sum()
}

#[test]
fn arrays_handed_over_at_their_last_use() {
    let a = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3], [-0.1, 0.9, 0.4]];
    let b = array![0.1, 0.3, -0.2];
    let y = [2, 0, 2];
    let (_, (da, db)) = handed_over_grad(&a, &b, &y);
    let at: Vec<f64> = flat2(&a).into_iter().chain(b.iter().copied()).collect();
    let analytic: Vec<f64> = flat2(&da).into_iter().chain(db.iter().copied()).collect();
    check("handed over", &at, &analytic, |p| {
        handed_over(
            &from_flat((3, 3), &p[..9]),
            &Array1::from(p[9..].to_vec()),
            &y,
        )
    });
    let source: String = handed_over_backward_source().split_whitespace().collect();
    for form in [
        "::backprop::relu(z)",
        "::backprop::log_softmax_grad(by_column,Axis(0),d_by_column)",
        "=::backprop::one_hot(&by_column",
        "::backprop::pick_grad(&twice",
    ] {
        assert!(source.contains(form), "{form} in {source}");
    }
}

/// Gates on transposed views: a view has no buffer to hand over.
#[backprop]
fn gates_on_views(x: &Array2<f64>) -> f64 {
    let xt = x.t();
    let h = backprop::sigmoid(&xt);
    let p = backprop::softmax(&x.t(), Axis(0));
    let q = backprop::log_softmax(&x.t(), Axis(1));
    (h * p).sum() + (q * 0.5).sum()
}

#[test]
fn gates_on_transposed_views() {
    let x = array![[1.0, 2.0, -0.5], [0.5, -1.0, 0.3]];
    let (_, dx) = gates_on_views_grad(&x);
    check("gates on views", &flat2(&x), &flat2(&dx), |p| {
        gates_on_views(&from_flat((2, 3), p))
    });
}

/// `.view()`, `.clone()` and `.to_owned()` carry the same values: a borrowed vector made a
/// column (`u[:, None] - v`), copies of a borrowed matrix.
#[backprop]
fn views_and_copies(u: &Array1<f64>, v: &Array1<f64>, m: &Array2<f64>) -> f64 {
    let d = &u.view().insert_axis(Axis(1)) - v;
    let c = m.clone();
    let e = c.to_owned() * 2.0 + &d;
    (&e * &d).sum() + (&m.view() * 3.0).sum()
}

#[test]
fn views_and_copies_of_parameters() {
    let u = array![0.1, -0.2];
    let v = array![0.3, 0.0, -0.1];
    let m = array![[1.0, 2.0, 3.0], [0.5, 0.1, 0.2]];
    let (_, (du, dv, dm)) = views_and_copies_grad(&u, &v, &m);
    let at: Vec<f64> = u.iter().chain(&v).chain(&m).copied().collect();
    let analytic: Vec<f64> = du.iter().chain(&dv).chain(&dm).copied().collect();
    check("views and copies", &at, &analytic, |p| {
        views_and_copies(
            &Array1::from(p[..2].to_vec()),
            &Array1::from(p[2..5].to_vec()),
            &from_flat((2, 3), &p[5..]),
        )
    });
}

/// Copies of local arrays, which hold references (`let v = &h;`): a `.view()` line, a
/// `.clone()` line while the original goes on to a gate, a plain copy, and (with `wrt`) a line
/// of constants (found by `tests/tensor_differential.rs`).
#[backprop]
fn copies_of_locals(a: &Array2<f64>) -> f64 {
    let h = a.tanh();
    let v = h.view();
    let g = a * 2.0;
    let c = g.clone();
    let r = backprop::relu(&g);
    let b = r;
    (&v * 2.0).sum() + (&c * &b).sum()
}

#[backprop(wrt(w))]
fn constant_line(w: &Array1<f64>, x: &Array1<f64>) -> f64 {
    let h = x.tanh();
    (&h * w).sum()
}

#[test]
fn copies_of_local_arrays() {
    let a = array![[0.5, -1.0], [0.3, 0.2]];
    let (_, da) = copies_of_locals_grad(&a);
    check("copies of locals", &flat2(&a), &flat2(&da), |p| {
        copies_of_locals(&from_flat((2, 2), p))
    });
    let (w, x) = (array![0.5, -1.0], array![0.3, 0.2]);
    let (_, dw) = constant_line_grad(&w, &x);
    assert_eq!(dw, x.tanh());
}

/// Found by `tests/tensor_differential.rs`: a scalar added to every element of a summed array
/// (its gradient is the upstream times the number of elements), a constant `max_axis` line (one
/// rank less), and a view of a constant array that outlives it.
#[backprop(wrt(s, m))]
fn constants_and_scalars(a: &Array2<f64>, m: &Array2<f64>, s: f64) -> f64 {
    let shifted = a + s;
    let top = backprop::max_axis(a, Axis(0));
    let dot = top.dot(&top);
    let gate = backprop::sigmoid(a);
    let view = gate.view();
    shifted.sum() + dot * s + (&view * m).sum()
}

#[test]
fn constant_lines_and_a_scalar_summed_over_an_array() {
    let a = array![[0.5, -1.0, 0.2], [0.3, 0.2, -0.4]];
    let m = array![[1.0, 2.0, -0.5], [0.1, 0.3, 0.7]];
    let (_, (dm, ds)) = constants_and_scalars_grad(&a, &m, 0.7);
    let top = a.fold_axis(Axis(0), f64::NEG_INFINITY, |&x, &y| x.max(y));
    assert!((ds - (6.0 + top.dot(&top))).abs() < 1e-12, "{ds}");
    assert_eq!(dm, backprop::sigmoid(&a));
}

/// An axis reduction of a vector is a 0-dimensional array (`Array0`), summed or scaled like any.
#[backprop]
fn zero_dimensional(a: &Array2<f64>) -> f64 {
    let col = a.sum_axis(Axis(0));
    let all = col.mean_axis(Axis(0)).unwrap();
    let scaled = &all * 3.0 + col.sum_axis(Axis(0));
    all.sum() + (scaled * &all).sum()
}

#[test]
fn axis_reductions_of_vectors() {
    let a = array![[0.5, -1.0, 0.2], [0.3, 0.2, -0.4]];
    let (_, da) = zero_dimensional_grad(&a);
    check("zero-dimensional", &flat2(&a), &flat2(&da), |p| {
        zero_dimensional(&from_flat((2, 3), p))
    });
}

#[backprop(wrt(w))]
fn in_f32(w: &Array2<f32>, x: &Array2<f32>) -> f32 {
    let h = x.dot(w).tanh();
    (h * 2.0).sum() + backprop::relu(w).sum()
}

#[test]
fn f32_arrays_stay_f32() {
    let w = array![[0.5f32, -1.0], [0.25, 1.5]];
    let x = array![[1.0f32, 0.3], [-0.4, 0.8], [0.1, 0.2]];
    let (_, dw): (f32, Array2<f32>) = in_f32_grad(&w, &x);
    // Reference: dW = Xᵀ (2 (1 - h²)) + [w > 0].
    let h = x.dot(&w).tanh();
    let expected =
        x.t().dot(&(2.0 * (1.0 - &h * &h))) + w.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    for (a, b) in dw.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-5, "{dw} vs {expected}");
    }
}

#[test]
fn non_finite_inputs_give_non_finite_gradients() {
    let a = array![[f64::NAN, 1.0], [0.5, -0.5]];
    let b = array![[1.0, 2.0], [3.0, 4.0]];
    let (value, (da, _)) = elementwise_grad(&a, &b);
    assert!(value.is_nan());
    assert!(da[[0, 0]].is_nan());
}

#[test]
#[should_panic]
fn shape_mismatch_panics_where_the_forward_would() {
    let a = array![[1.0, 2.0], [3.0, 4.0]];
    let b = array![[1.0, 2.0, 3.0]];
    let _ = elementwise_grad(&a, &b);
}

/// Sums and means of single-use elementwise lines: the gradient of the summed array is one
/// value, passed to the line's rule as a scalar where each local gradient still has its
/// operand's shape (`2 x d` for `x * x`), and materialised where it would not (a product with
/// a scalar or with another array that may be smaller, a negation, a sum).
#[backprop]
fn uniform_sums(a: &Array2<f64>, row: &Array1<f64>, c: f64) -> f64 {
    let broadcast = (a * row).sum();
    let scaled = (a * c).mean().unwrap();
    let negated = (-a).sum() * 0.5;
    let squares = (row * row).mean().unwrap();
    broadcast + scaled + negated + squares + (a.mapv(f64::exp) + row).sum()
}

#[test]
fn uniform_gradient_of_sums_and_means() {
    let a = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let row = array![0.7, -0.4, 1.1];
    let (_, (da, drow, dc)) = uniform_sums_grad(&a, &row, 0.8);
    let at: Vec<f64> = flat2(&a)
        .into_iter()
        .chain(row.iter().copied())
        .chain([0.8])
        .collect();
    let analytic: Vec<f64> = flat2(&da)
        .into_iter()
        .chain(drow.iter().copied())
        .chain([dc])
        .collect();
    check("uniform sums", &at, &analytic, |p| {
        uniform_sums(
            &from_flat((2, 3), &p[..6]),
            &Array1::from(p[6..9].to_vec()),
            p[9],
        )
    });
    let source = uniform_sums_backward_source();
    // Only `row * row` keeps the scalar: the other four lines materialise the gradient.
    assert_eq!(source.matches("from_elem").count(), 4, "{source}");
    assert!(source.contains("2.0 * row * (d_squares"), "{source}");
}

#[backprop(wrt(w))]
fn cross_entropy_f32(w: &Array2<f32>, x: &Array2<f32>, y: &[usize]) -> f32 {
    let log_probs = backprop::log_softmax(&x.dot(w), Axis(1));
    -backprop::pick(&log_probs, y).mean().unwrap()
}

#[test]
fn f32_cross_entropy_with_a_uniform_pick_gradient() {
    let w = array![[0.5f32, -1.0, 0.2], [0.25, 1.5, -0.3]];
    let x = array![[1.0f32, 0.3], [-0.4, 0.8], [0.1, 0.2], [0.9, -1.1]];
    let y = [2, 0, 1, 1];
    let (_, dw) = cross_entropy_f32_grad(&w, &x, &y);
    // The notes' closed form: dW = Xᵀ (softmax(XW) − onehot(y)) / N.
    let mut probs = backprop::softmax(&x.dot(&w), Axis(1));
    for (i, &label) in y.iter().enumerate() {
        probs[[i, label]] -= 1.0;
    }
    let expected = x.t().dot(&probs) / y.len() as f32;
    for (a, b) in dw.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{dw} vs {expected}");
    }
    // The mean's gradient reaches `pick_grad` as one value, not as an array of copies.
    assert!(!cross_entropy_f32_backward_source().contains("from_elem"));
}

/// `mapv` with closures: the body, one elementwise expression, is differentiated as array
/// operations on the whole array (a float method, a call, a gate, a captured scalar).
#[backprop]
fn mapped(a: &Array2<f64>, s: f64) -> f64 {
    let soft = a.mapv(|v| v / (1.0 + v.abs()));
    let curve = a.mapv(|v: f64| (v * s).exp() - f64::tanh(v) * 0.5);
    let gated = (a * 2.0).mapv(|v| backprop::sigmoid(v) * v);
    (soft * &curve).sum() + gated.mean().unwrap()
}

#[test]
fn mapv_closures() {
    let a = array![[0.5, -1.0, 0.25], [1.5, 0.2, -0.3]];
    let (_, (da, ds)) = mapped_grad(&a, 0.7);
    let at: Vec<f64> = flat2(&a).into_iter().chain([0.7]).collect();
    let analytic: Vec<f64> = flat2(&da).into_iter().chain([ds]).collect();
    check("mapv closures", &at, &analytic, |p| {
        mapped(&from_flat((2, 3), &p[..6]), p[6])
    });
}

#[backprop]
fn mapped_f32(a: &Array1<f32>) -> f32 {
    a.mapv(|v| v * v * 0.5 + v.sin()).sum()
}

#[test]
fn mapv_closure_f32() {
    let a = array![0.5f32, -1.0, 2.0];
    let (_, da): (f32, Array1<f32>) = mapped_f32_grad(&a);
    // Closed form: d/dv (v²/2 + sin v) = v + cos v.
    for (d, v) in da.iter().zip(&a) {
        assert!((d - (v + v.cos())).abs() < 1e-6, "{da}");
    }
}

/// Margins with the correct class's entries set to zero in place, as the vectorized SVM loss
/// does with `margins[np.arange(N), y] = 0`: written `m[[i, y[i]]] = 0.0` in a loop.
#[backprop(wrt(w))]
fn margins_zeroed(w: &Array2<f64>, x: &Array2<f64>, y: &[usize]) -> f64 {
    let scores = x.dot(w);
    let mut margins = backprop::relu(&(scores + 1.0));
    for i in 0..y.len() {
        margins[[i, y[i]]] = 0.0;
    }
    margins.sum() / y.len() as f64
}

/// A copy of a parameter written in place: the parameter is unchanged.
#[backprop(wrt(a))]
fn copy_written(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let mut m = a.clone();
    m[[0, 1]] = 0.0;
    m[[1, 0]] = 2.0;
    (&m * b).sum() + (a * a).sum()
}

#[test]
fn elements_of_local_arrays_written_in_place() {
    let w = array![[0.2, -0.4, 0.5], [0.3, 0.1, -0.6]];
    let x = array![[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]];
    let y = [2usize, 0, 1];
    let (_, dw) = margins_zeroed_grad(&w, &x, &y);
    let flat: Vec<f64> = dw.iter().copied().collect();
    let at: Vec<f64> = w.iter().copied().collect();
    backprop::assert_gradient!(
        |p: &[f64]| margins_zeroed(&Array2::from_shape_vec((2, 3), p.to_vec()).unwrap(), &x, &y),
        &at,
        &flat,
    );
    // The zeroed entries pass no gradient: the reference by hand.
    let mut expected = Array2::<f64>::zeros((2, 3));
    for i in 0..3 {
        for j in 0..3 {
            let s: f64 = (0..2).map(|k| x[[i, k]] * w[[k, j]]).sum::<f64>() + 1.0;
            if j != y[i] && s > 0.0 {
                for k in 0..2 {
                    expected[[k, j]] += x[[i, k]] / 3.0;
                }
            }
        }
    }
    for (g, e) in dw.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-12, "{dw} vs {expected}");
    }
    let a = array![[0.5, -1.0], [2.0, 0.3]];
    let b = array![[1.5, 0.7], [-0.2, 0.9]];
    let (value, da) = copy_written_grad(&a, &b);
    assert!((value - copy_written(&a, &b)).abs() < 1e-15);
    // d/da of (m * b).sum() is b where m copies a, zero where it was overwritten; plus 2a.
    let expected = array![[1.5 + 1.0, 0.0 - 2.0], [0.0 + 4.0, 0.9 + 0.6]];
    assert!((&da - &expected).iter().all(|d| d.abs() < 1e-15), "{da}");
}

/// Found by the random ndarray programs: an array computed by an operation (not a copy) and
/// then written in place kept its operation (it was emitted as a copy of the operand), and an
/// element overwritten once passed its old value's gradient on.
#[backprop(wrt(a))]
fn computed_then_written(a: &Array2<f64>) -> f64 {
    let mut m = a.tanh();
    m[[0, 0]] = 1.5;
    m[[1, 0]] = 3.0;
    (&m * &m).sum()
}

/// The same for a buffer copied from a slice: the overwritten element's gradient is gone.
#[backprop]
#[allow(clippy::needless_range_loop)]
fn copied_then_written(x: &[f64]) -> f64 {
    let mut y = x.to_vec();
    y[0] = 5.0;
    let mut s = 0.0;
    for i in 0..y.len() {
        s += y[i] * y[i] * x[i];
    }
    s
}

#[test]
fn overwritten_elements_of_computed_arrays_pass_no_gradient() {
    let a = array![[0.3, -0.8], [1.2, 0.5]];
    let (value, da) = computed_then_written_grad(&a);
    assert!((value - computed_then_written(&a)).abs() < 1e-12);
    // d/da of tanh(a)² is 2 tanh(a)(1 - tanh(a)²), zero where the element was overwritten.
    for ((i, j), &g) in da.indexed_iter() {
        let expected = if j == 0 {
            0.0
        } else {
            let t = a[[i, j]].tanh();
            2.0 * t * (1.0 - t * t)
        };
        assert!((g - expected).abs() < 1e-12, "{da}");
    }
    let x = [0.7, -1.1, 0.4];
    let (value, dx) = copied_then_written_grad(&x);
    assert!((value - copied_then_written(&x)).abs() < 1e-12);
    // s = 25 x0 + x1³ + x2³.
    let expected = [25.0, 3.0 * x[1] * x[1], 3.0 * x[2] * x[2]];
    for (g, e) in dx.iter().zip(expected) {
        assert!((g - e).abs() < 1e-12, "{dx:?}");
    }
}
