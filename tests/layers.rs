//! The course's layers, written as their numpy originals are, ported to ndarray; each gradient
//! against the closed-form backward the course writes by hand, and against central differences.
//! (The issue on layers grows this file.)

mod common;

use backprop::backprop;
use backprop::ndarray::{self, Array1, Array2, Array4, Axis, array, s};

/// Central differences of `f` agree with `analytic` (flattened).
fn agrees_with_central_differences(
    what: &str,
    at: &[f64],
    analytic: &[f64],
    f: impl FnMut(&[f64]) -> f64,
) {
    let report = backprop::check_gradient(f, at, analytic);
    assert!(
        report.passed(),
        "{what}: disagrees with central differences\n{report}"
    );
}

fn close(what: &str, a: &Array2<f64>, b: &Array2<f64>) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-12 * x.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
}

/// `out = np.maximum(0, x.dot(w) + b)`, then a fixed linear read-out: the affine + ReLU layer.
#[backprop(wrt(x, w, b))]
fn affine_relu(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>, r: &Array2<f64>) -> f64 {
    let z = x.dot(w) + b;
    let h = z.mapv(|v| v.max(0.0));
    (&h * r).sum()
}

#[test]
fn affine_relu_layer_with_max_in_a_closure() {
    let x = array![[0.5, -1.2, 0.3], [1.1, 0.4, -0.7]];
    let w = array![[0.2, -0.5], [0.8, 0.1], [-0.3, 0.6]];
    let b = array![0.05, -0.1];
    let r = array![[1.0, -2.0], [0.5, 3.0]];
    let (_, (dx, dw, db)) = affine_relu_grad(&x, &w, &b, &r);
    // The course's backward: dz = dout * (z > 0), dx = dz wᵀ, dw = xᵀ dz, db = Σ dz.
    let z = x.dot(&w) + &b;
    let dz = &r * &z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
    close("dx", &dx, &dz.dot(&w.t()));
    close("dw", &dw, &x.t().dot(&dz));
    let db_expected = dz.sum_axis(Axis(0));
    for (a, e) in db.iter().zip(&db_expected) {
        assert!((a - e).abs() < 1e-12);
    }
    let flat: Vec<f64> = x.iter().chain(&w).chain(&b).copied().collect();
    let analytic: Vec<f64> = dx.iter().chain(&dw).chain(&db).copied().collect();
    agrees_with_central_differences("affine_relu", &flat, &analytic, |p| {
        let x = Array2::from_shape_vec((2, 3), p[..6].to_vec()).unwrap();
        let w = Array2::from_shape_vec((3, 2), p[6..12].to_vec()).unwrap();
        let b = Array1::from(p[12..].to_vec());
        affine_relu(&x, &w, &b, &r)
    });
}

/// Clipping with learned bounds, and a floor: `np.clip(z, lo, hi)`, `np.minimum(z, cap)`.
#[backprop]
fn clipped(z: &Array2<f64>, lo: f64, hi: f64, cap: f64) -> f64 {
    let c = z.mapv(|v| v.clamp(lo, hi));
    let m = z.mapv(|v| v.min(cap));
    (&c * &c).sum() + (m * 0.5).sum()
}

#[test]
fn clamp_and_min_with_differentiated_bounds() {
    let z = array![[0.9, -1.4, 0.2], [-0.3, 2.1, -0.05]];
    let (lo, hi, cap) = (-0.5, 0.8, 0.1);
    let (_, (dz, dlo, dhi, dcap)) = clipped_grad(&z, lo, hi, cap);
    // By hand: d(c²)/dz = 2c inside [lo, hi]; the clipped entries' 2c go to the bound they hit;
    // min: ½ where z ≤ cap, else to cap.
    let c = z.mapv(|v| v.clamp(lo, hi));
    let inside = z.mapv(|v| if v >= lo && v <= hi { 1.0 } else { 0.0 });
    let below = z.mapv(|v| if v <= cap { 0.5 } else { 0.0 });
    close("dz", &dz, &(2.0 * &c * &inside + &below));
    let dlo_expected: f64 = z.iter().filter(|&&v| v < lo).map(|_| 2.0 * lo).sum();
    let dhi_expected: f64 = z.iter().filter(|&&v| v > hi).map(|_| 2.0 * hi).sum();
    let dcap_expected: f64 = z.iter().filter(|&&v| v > cap).map(|_| 0.5).sum();
    assert!(
        (dlo - dlo_expected).abs() < 1e-12,
        "{dlo} vs {dlo_expected}"
    );
    assert!(
        (dhi - dhi_expected).abs() < 1e-12,
        "{dhi} vs {dhi_expected}"
    );
    assert!(
        (dcap - dcap_expected).abs() < 1e-12,
        "{dcap} vs {dcap_expected}"
    );
    let flat: Vec<f64> = z.iter().copied().chain([lo, hi, cap]).collect();
    let analytic: Vec<f64> = dz.iter().copied().chain([dlo, dhi, dcap]).collect();
    agrees_with_central_differences("clipped", &flat, &analytic, |p| {
        let z = Array2::from_shape_vec((2, 3), p[..6].to_vec()).unwrap();
        clipped(&z, p[6], p[7], p[8])
    });
}

/// f32: ReLU of a vector, read out by a sum (the upstream one value everywhere).
#[backprop]
fn relu_sum32(z: &Array1<f32>, s: f32) -> f32 {
    z.mapv(|v| (v * s).max(0.0)).sum()
}

#[test]
fn relu_in_f32() {
    let z = Array1::from(vec![0.5f32, -1.0, 2.0, -0.1]);
    let (value, (dz, ds)) = relu_sum32_grad(&z, 1.5);
    assert!((value - 3.75).abs() < 1e-6);
    let expected = [1.5f32, 0.0, 1.5, 0.0];
    for (a, e) in dz.iter().zip(expected) {
        assert!((a - e).abs() < 1e-6, "{dz}");
    }
    assert!((ds - 2.5).abs() < 1e-6, "{ds}");
}

// ---------------------------------------------------------------------------------------------
// `mapv` closures with branches: the closure is a scalar function whose backward the macro
// writes, applied to every element.

/// Leaky ReLU with a learned slope, as numpy writes it (`np.where(z > 0, z, alpha * z)`).
#[backprop]
fn leaky_relu_layer(z: &Array2<f64>, alpha: f64) -> Array2<f64> {
    z.mapv(|v| if v > 0.0 { v } else { alpha * v })
}

/// ELU, with a block and a `let` in the closure, then a read-out.
#[backprop]
fn elu_loss(x: &Array2<f64>, w: &Array2<f64>, alpha: f64, r: &Array2<f64>) -> f64 {
    let z = x.dot(w);
    let h = z.mapv(|v| {
        let negative = alpha * (v.exp() - 1.0);
        if v > 0.0 { v } else { negative }
    });
    (&h * r).sum()
}

/// A smooth-L1 (Huber) loss on residuals, with comparisons on the element's magnitude.
#[backprop]
fn huber(pred: &Array1<f32>, target: &Array1<f32>, delta: f32) -> f32 {
    let r = pred - target;
    let l = r.mapv(|v| {
        if v.abs() <= delta {
            0.5 * v * v
        } else {
            delta * (v.abs() - 0.5 * delta)
        }
    });
    l.sum()
}

#[test]
fn mapv_closures_with_branches() {
    let z = array![[0.5, -1.2, 0.3], [-0.4, 0.9, -2.0]];
    let alpha = 0.1;
    let d = array![[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]];
    let (out, (dz, dalpha)) = leaky_relu_layer_backward(&z, alpha, d.clone());
    close(
        "out",
        &out,
        &z.mapv(|v| if v > 0.0 { v } else { alpha * v }),
    );
    // Closed form: dz = d where z > 0, alpha d elsewhere; dalpha = Σ d z over z ≤ 0.
    let dz_ref = ndarray::Zip::from(&z)
        .and(&d)
        .map_collect(|&v, &d| if v > 0.0 { d } else { alpha * d });
    close("dz", &dz, &dz_ref);
    let dalpha_ref: f64 = z
        .iter()
        .zip(&d)
        .filter(|(v, _)| **v <= 0.0)
        .map(|(v, d)| v * d)
        .sum();
    assert!(
        (dalpha - dalpha_ref).abs() < 1e-14,
        "{dalpha} vs {dalpha_ref}"
    );

    let x = array![[0.5, -1.2], [1.1, 0.4], [-0.3, -0.8]];
    let w = array![[0.2, -0.5, 0.9], [0.8, 0.1, -0.4]];
    let r = array![[1.0, -2.0, 0.5], [0.5, 3.0, -1.0], [2.0, 0.1, 0.7]];
    let (_, (dx, dw, dalpha, _)) = elu_loss_grad(&x, &w, 0.7, &r);
    let zz = x.dot(&w);
    let dzz = ndarray::Zip::from(&zz)
        .and(&r)
        .map_collect(|&v, &r| if v > 0.0 { r } else { 0.7 * v.exp() * r });
    close("elu dx", &dx, &dzz.dot(&w.t()));
    close("elu dw", &dw, &x.t().dot(&dzz));
    let dalpha_ref: f64 = zz
        .iter()
        .zip(&r)
        .filter(|(v, _)| **v <= 0.0)
        .map(|(v, r)| (v.exp() - 1.0) * r)
        .sum();
    assert!((dalpha - dalpha_ref).abs() < 1e-14);
    let flat: Vec<f64> = x.iter().chain(&w).copied().chain([0.7]).collect();
    let analytic: Vec<f64> = dx.iter().chain(&dw).copied().chain([dalpha]).collect();
    agrees_with_central_differences("elu_loss", &flat, &analytic, |p| {
        let x = Array2::from_shape_vec((3, 2), p[..6].to_vec()).unwrap();
        let w = Array2::from_shape_vec((2, 3), p[6..12].to_vec()).unwrap();
        elu_loss(&x, &w, p[12], &r)
    });

    let pred = array![0.5f32, -1.0, 2.5, 0.1];
    let target = array![0.4f32, 1.0, 0.0, 0.1];
    let (_, (dpred, dtarget, ddelta)) = huber_grad(&pred, &target, 1.0);
    // Closed form: d/dr = r inside the band, delta·sign(r) outside; d/ddelta = |r| − delta outside.
    for i in 0..4 {
        let v = pred[i] - target[i];
        let expected = if v.abs() <= 1.0 { v } else { v.signum() };
        assert!(
            (dpred[i] - expected).abs() < 1e-6,
            "{i}: {} vs {expected}",
            dpred[i]
        );
        assert!((dtarget[i] + expected).abs() < 1e-6);
    }
    let ddelta_ref: f32 = pred
        .iter()
        .zip(&target)
        .map(|(p, t)| (p - t).abs())
        .filter(|a| *a > 1.0)
        .map(|a| a - 1.0)
        .sum();
    assert!((ddelta - ddelta_ref).abs() < 1e-6);
}

/// An activation of the user's own, a `#[backprop]` scalar function, mapped over an array:
/// `z.mapv(|v| gelu_tanh(v, k))` and `h.mapv(softsign)` (a function path, as numpy's
/// `np.vectorize(f)(z)`), each differentiated through the function's `_backward`.
#[backprop]
fn gelu_tanh(v: f64, k: f64) -> f64 {
    0.5 * v * (1.0 + (k * (v + 0.044715 * v * v * v)).tanh())
}

#[backprop]
fn softsign(v: f64) -> f64 {
    v / (1.0 + v.abs())
}

#[backprop(jvp)]
fn own_activations(x: &Array2<f64>, w: &Array2<f64>, k: f64) -> f64 {
    let z = x.dot(w);
    let h = z.mapv(|v| gelu_tanh(v, k));
    let s = h.mapv(softsign);
    (&s * &z).sum()
}

#[backprop]
fn softsign32(v: f32) -> f32 {
    v / (1.0 + v.abs())
}

#[backprop]
fn own_activation32(z: &Array1<f32>) -> f32 {
    z.mapv(softsign32).sum()
}

#[test]
fn functions_of_the_user_s_own_in_mapv() {
    let x = array![[0.5, -1.2, 0.3], [-0.4, 0.9, -2.0]];
    let w = array![[0.7, -0.3], [0.2, 0.5], [-1.1, 0.4]];
    let k = 0.8;
    let (value, (d_x, d_w, d_k)) = own_activations_grad(&x, &w, k);
    // The exact reference: the same function in dual numbers, one component at a time.
    use num_dual::{Dual64, DualNum};
    let reference = |xd: &[Dual64], wd: &[Dual64], kd: Dual64| -> Dual64 {
        let mut total = Dual64::from_re(0.0);
        for i in 0..2 {
            for c in 0..2 {
                let z = (0..3).fold(Dual64::from_re(0.0), |s, j| {
                    s + xd[i * 3 + j] * wd[j * 2 + c]
                });
                let h = z * 0.5 * ((kd * (z + z * z * z * 0.044715)).tanh() + 1.0);
                let s = h / (if h.re < 0.0 { -h } else { h } + 1.0);
                total += s * z;
            }
        }
        total
    };
    let flat = |a: &Array2<f64>| a.iter().map(|&v| Dual64::from_re(v)).collect::<Vec<_>>();
    let (xs, ws) = (flat(&x), flat(&w));
    let kd = Dual64::from_re(k);
    assert!((value - reference(&xs, &ws, kd).re).abs() < 1e-14);
    for (i, g) in d_x.iter().enumerate() {
        let mut seeded = xs.clone();
        seeded[i].eps = 1.0;
        assert!(
            (g - reference(&seeded, &ws, kd).eps).abs() < 1e-13,
            "d_x[{i}]"
        );
    }
    for (i, g) in d_w.iter().enumerate() {
        let mut seeded = ws.clone();
        seeded[i].eps = 1.0;
        assert!(
            (g - reference(&xs, &seeded, kd).eps).abs() < 1e-13,
            "d_w[{i}]"
        );
    }
    assert!((d_k - reference(&xs, &ws, Dual64::new(k, 1.0)).eps).abs() < 1e-13);
    agrees_with_central_differences(
        "own activations",
        w.as_slice().unwrap(),
        d_w.as_slice().unwrap(),
        |p| own_activations(&x, &Array2::from_shape_vec((3, 2), p.to_vec()).unwrap(), k),
    );
    // Forward mode maps the same functions' backward over the tangents.
    let (t_x, t_w) = (x.mapv(|v| 0.5 - v), w.mapv(|v| v * v));
    let (_, tangent) = own_activations_jvp(&x, &w, k, &t_x, &t_w, 0.3);
    let directional = (&d_x * &t_x).sum() + (&d_w * &t_w).sum() + d_k * 0.3;
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));

    let z = array![0.5f32, -1.5, 2.0];
    let (_, d_z) = own_activation32_grad(&z);
    for (g, v) in d_z.iter().zip(&z) {
        assert!((g - 1.0 / (1.0 + v.abs()).powi(2)).abs() < 1e-6);
    }
}

/// The closure's scalar function and its backward sit in the generated code as items: the
/// forward line maps the one, the reverse applies the other to every element.
#[test]
fn leaky_relu_layer_snapshot() {
    common::check_snapshot("leaky_relu_layer", leaky_relu_layer_backward_source());
}

// ---------------------------------------------------------------------------------------------
// Parts of arrays: `slice(s![..])`, `row`, `column`, `index_axis`, `slice_axis`. A part's
// gradient is added into the same part of the array's gradient (`d_a.slice_mut(s![..])`).

/// One LSTM step as the course writes it: the (N, 4H) activations split into the four gates
/// by slicing, then a read-out of both `next_h` and `next_c` (the upstream gradients
/// `dnext_h`, `dnext_c` of the course's gradient check).
#[allow(clippy::too_many_arguments)]
#[backprop(wrt(x, prev_h, prev_c, wx, wh, b))]
fn lstm_step(
    x: &Array2<f64>,
    prev_h: &Array2<f64>,
    prev_c: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    dnext_h: &Array2<f64>,
    dnext_c: &Array2<f64>,
) -> f64 {
    let h = prev_h.ncols();
    let a = x.dot(wx) + prev_h.dot(wh) + b;
    let i = backprop::sigmoid(&a.slice(s![.., 0..h]));
    let f = backprop::sigmoid(&a.slice(s![.., h..2 * h]));
    let o = backprop::sigmoid(&a.slice(s![.., 2 * h..3 * h]));
    let g = a.slice(s![.., 3 * h..4 * h]).tanh();
    let next_c = &f * prev_c + &i * &g;
    let next_h = &o * &next_c.tanh();
    (&next_h * dnext_h).sum() + (&next_c * dnext_c).sum()
}

#[test]
fn lstm_step_with_sliced_gates_is_the_courses() {
    let x = array![[0.5, -1.2, 0.3], [1.1, 0.4, -0.7]];
    let prev_h = array![[0.1, -0.3], [0.7, 0.2]];
    let prev_c = array![[-0.5, 0.4], [0.9, -0.1]];
    let wx = Array2::from_shape_fn((3, 8), |(i, j)| ((i * 8 + j) as f64 * 0.37).sin() * 0.5);
    let wh = Array2::from_shape_fn((2, 8), |(i, j)| ((i * 8 + j) as f64 * 0.53).cos() * 0.5);
    let b = Array1::from_shape_fn(8, |j| 0.1 * j as f64 - 0.3);
    let dnext_h = array![[1.0, -2.0], [0.5, 3.0]];
    let dnext_c = array![[-0.3, 0.8], [1.2, -0.4]];
    let (_, (dx, dprev_h, dprev_c, dwx, dwh, db)) =
        lstm_step_grad(&x, &prev_h, &prev_c, &wx, &wh, &b, &dnext_h, &dnext_c);
    // The course's lstm_step_backward.
    let a = x.dot(&wx) + prev_h.dot(&wh) + &b;
    let sig = |m: ndarray::ArrayView2<f64>| m.mapv(|v| 1.0 / (1.0 + (-v).exp()));
    let (i, f, o) = (
        sig(a.slice(ndarray::s![.., 0..2])),
        sig(a.slice(ndarray::s![.., 2..4])),
        sig(a.slice(ndarray::s![.., 4..6])),
    );
    let g = a.slice(ndarray::s![.., 6..8]).tanh();
    let next_c = &f * &prev_c + &i * &g;
    let tc = next_c.tanh();
    let dc = &dnext_c + &(&dnext_h * &o * (1.0 - &tc * &tc));
    let mut da = Array2::zeros((2, 8));
    da.slice_mut(ndarray::s![.., 0..2])
        .assign(&(&dc * &g * &i * (1.0 - &i)));
    da.slice_mut(ndarray::s![.., 2..4])
        .assign(&(&dc * &prev_c * &f * (1.0 - &f)));
    da.slice_mut(ndarray::s![.., 4..6])
        .assign(&(&dnext_h * &tc * &o * (1.0 - &o)));
    da.slice_mut(ndarray::s![.., 6..8])
        .assign(&(&dc * &i * (1.0 - &g * &g)));
    close("dx", &dx, &da.dot(&wx.t()));
    close("dprev_h", &dprev_h, &da.dot(&wh.t()));
    close("dprev_c", &dprev_c, &(&dc * &f));
    close("dWx", &dwx, &x.t().dot(&da));
    close("dWh", &dwh, &prev_h.t().dot(&da));
    for (a, e) in db.iter().zip(&da.sum_axis(Axis(0))) {
        assert!((a - e).abs() < 1e-12);
    }
    let flat: Vec<f64> = x
        .iter()
        .chain(&prev_h)
        .chain(&prev_c)
        .chain(&wx)
        .copied()
        .collect();
    let analytic: Vec<f64> = dx
        .iter()
        .chain(&dprev_h)
        .chain(&dprev_c)
        .chain(&dwx)
        .copied()
        .collect();
    agrees_with_central_differences("lstm_step", &flat, &analytic, |p| {
        let x = Array2::from_shape_vec((2, 3), p[..6].to_vec()).unwrap();
        let ph = Array2::from_shape_vec((2, 2), p[6..10].to_vec()).unwrap();
        let pc = Array2::from_shape_vec((2, 2), p[10..14].to_vec()).unwrap();
        let wx = Array2::from_shape_vec((3, 8), p[14..38].to_vec()).unwrap();
        lstm_step(&x, &ph, &pc, &wx, &wh, &b, &dnext_h, &dnext_c)
    });
}

/// Rows, columns, an axis index and an axis slice, each read where the course reads them.
#[backprop]
fn parts(w: &Array2<f32>, v: &Array1<f32>) -> f32 {
    let first = w.row(0);
    let last = w.column(w.ncols() - 1);
    let middle = w.index_axis(Axis(0), 1);
    let band = w.slice_axis(Axis(1), ndarray::Slice::from(0..2));
    (&first * v).sum() + last.mapv(|t| t * t).sum() + middle.dot(v) * band.sum()
}

#[test]
fn rows_columns_and_axis_parts_in_f32() {
    let w = array![[0.5f32, -1.0, 2.0], [1.5, 0.25, -0.5], [-2.0, 1.0, 0.75]];
    let v = array![0.3f32, -0.6, 1.2];
    let (_, (dw, dv)) = parts_grad(&w, &v);
    let middle_dot = w.row(1).dot(&v);
    let band_sum = w.slice(ndarray::s![.., 0..2]).sum();
    let mut dw_ref = Array2::<f32>::zeros((3, 3));
    for j in 0..3 {
        dw_ref[[0, j]] += v[j];
        dw_ref[[1, j]] += v[j] * band_sum;
    }
    for i in 0..3 {
        dw_ref[[i, 2]] += 2.0 * w[[i, 2]];
        for j in 0..2 {
            dw_ref[[i, j]] += middle_dot;
        }
    }
    let dv_ref = &w.row(0) + &(&w.row(1) * band_sum);
    for (a, e) in dw.iter().zip(&dw_ref) {
        assert!((a - e).abs() < 1e-5, "{dw} vs {dw_ref}");
    }
    for (a, e) in dv.iter().zip(&dv_ref) {
        assert!((a - e).abs() < 1e-5, "{dv} vs {dv_ref}");
    }
}

// ---------------------------------------------------------------------------------------------
// Naive convolution and max-pooling on `Array4`, element by element, as the course's
// `conv_forward_naive` / `max_pool_forward_naive` loops are written.

/// `out[n, f, i, j] = Σ_{c, a, q} x[n, c, i·s + a, j·s + q] · w[f, c, a, q] + b[f]`.
#[backprop(wrt(x, w, b))]
fn conv_naive(x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>, stride: usize) -> Array4<f64> {
    let (n, c, h, wd) = x.dim();
    let (f, _, hh, ww) = w.dim();
    let ho = 1 + (h - hh) / stride;
    let wo = 1 + (wd - ww) / stride;
    let mut out = Array4::zeros((n, f, ho, wo));
    for i_n in 0..n {
        for i_f in 0..f {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = b[i_f];
                    for k in 0..c {
                        for a in 0..hh {
                            for q in 0..ww {
                                acc +=
                                    x[[i_n, k, i * stride + a, j * stride + q]] * w[[i_f, k, a, q]];
                            }
                        }
                    }
                    out[[i_n, i_f, i, j]] = acc;
                }
            }
        }
    }
    out
}

/// The max over each `ph × pw` window.
#[backprop(wrt(x))]
fn max_pool_naive(x: &Array4<f64>, ph: usize, pw: usize, stride: usize) -> Array4<f64> {
    let (n, c, h, w) = x.dim();
    let ho = 1 + (h - ph) / stride;
    let wo = 1 + (w - pw) / stride;
    let mut out = Array4::zeros((n, c, ho, wo));
    for i_n in 0..n {
        for k in 0..c {
            for i in 0..ho {
                for j in 0..wo {
                    let mut m = x[[i_n, k, i * stride, j * stride]];
                    for a in 0..ph {
                        for q in 0..pw {
                            m = m.max(x[[i_n, k, i * stride + a, j * stride + q]]);
                        }
                    }
                    out[[i_n, k, i, j]] = m;
                }
            }
        }
    }
    out
}

fn close4(what: &str, a: &Array4<f64>, b: &Array4<f64>) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-12 * x.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
}

#[test]
fn naive_convolution_and_max_pool_on_array4() {
    let x = Array4::from_shape_fn((2, 2, 5, 5), |(n, c, i, j)| {
        ((n * 50 + c * 25 + i * 5 + j) as f64 * 0.731).sin()
    });
    let w = Array4::from_shape_fn((3, 2, 3, 3), |(f, c, a, q)| {
        ((f * 18 + c * 9 + a * 3 + q) as f64 * 0.417).cos() * 0.5
    });
    let b = array![0.1, -0.2, 0.05];
    let stride = 2;
    let dout = Array4::from_shape_fn((2, 3, 2, 2), |(n, f, i, j)| {
        ((n * 12 + f * 4 + i * 2 + j) as f64 * 1.3).sin()
    });
    let (out, (dx, dw, db)) = conv_naive_backward(&x, &w, &b, stride, dout.clone());
    close4("out", &out, &conv_naive(&x, &w, &b, stride));
    // The course's conv_backward_naive.
    let mut dx_ref = Array4::zeros(x.raw_dim());
    let mut dw_ref = Array4::zeros(w.raw_dim());
    let mut db_ref = Array1::<f64>::zeros(3);
    for n in 0..2 {
        for f in 0..3 {
            for i in 0..2 {
                for j in 0..2 {
                    let d = dout[[n, f, i, j]];
                    db_ref[f] += d;
                    for c in 0..2 {
                        for a in 0..3 {
                            for q in 0..3 {
                                dx_ref[[n, c, i * 2 + a, j * 2 + q]] += w[[f, c, a, q]] * d;
                                dw_ref[[f, c, a, q]] += x[[n, c, i * 2 + a, j * 2 + q]] * d;
                            }
                        }
                    }
                }
            }
        }
    }
    close4("dx", &dx, &dx_ref);
    close4("dw", &dw, &dw_ref);
    for (a, e) in db.iter().zip(&db_ref) {
        assert!((a - e).abs() < 1e-12);
    }
    let flat: Vec<f64> = x.iter().chain(&w).chain(&b).copied().collect();
    let analytic: Vec<f64> = dx.iter().chain(&dw).chain(&db).copied().collect();
    agrees_with_central_differences("conv_naive", &flat, &analytic, |p| {
        let x = Array4::from_shape_vec((2, 2, 5, 5), p[..100].to_vec()).unwrap();
        let w = Array4::from_shape_vec((3, 2, 3, 3), p[100..154].to_vec()).unwrap();
        let b = Array1::from_vec(p[154..].to_vec());
        (conv_naive(&x, &w, &b, stride) * &dout).sum()
    });

    let dpool = Array4::from_shape_fn((2, 2, 2, 2), |(n, c, i, j)| {
        1.0 + (n * 8 + c * 4 + i * 2 + j) as f64
    });
    let (pooled, dxp) = max_pool_naive_backward(&x, 2, 2, 2, dpool.clone());
    close4("pooled", &pooled, &max_pool_naive(&x, 2, 2, 2));
    // The course's max_pool_backward_naive: the upstream goes to each window's arg-max.
    let mut dxp_ref = Array4::zeros(x.raw_dim());
    for n in 0..2 {
        for c in 0..2 {
            for i in 0..2 {
                for j in 0..2 {
                    let (mut best, mut at) = (f64::NEG_INFINITY, (0, 0));
                    for a in 0..2 {
                        for q in 0..2 {
                            if x[[n, c, 2 * i + a, 2 * j + q]] > best {
                                best = x[[n, c, 2 * i + a, 2 * j + q]];
                                at = (2 * i + a, 2 * j + q);
                            }
                        }
                    }
                    dxp_ref[[n, c, at.0, at.1]] += dpool[[n, c, i, j]];
                }
            }
        }
    }
    close4("max-pool dx", &dxp, &dxp_ref);
}

/// Differentiated values written into a copy of the data (a mask or a padded input filled in
/// place): the copy becomes differentiated.
#[backprop(wrt(w))]
fn write_into_a_copy(w: f64, x: &Array2<f64>) -> f64 {
    let mut m = x * 2.0;
    m[[0, 0]] = w * 3.0;
    m[[1, 1]] += w * w;
    (&m * &m).sum()
}

#[test]
fn writes_into_a_copy_of_constant_data() {
    let x = array![[0.5, -1.0], [0.25, 2.0]];
    let w = 0.7;
    let (value, dw) = write_into_a_copy_grad(w, &x);
    let (m00, m11) = (3.0 * w, 2.0 * x[[1, 1]] + w * w);
    let expected = m00 * m00 + 4.0 * (x[[0, 1]] * x[[0, 1]] + x[[1, 0]] * x[[1, 0]]) + m11 * m11;
    assert!((value - expected).abs() < 1e-12);
    let dw_ref = 2.0 * m00 * 3.0 + 2.0 * m11 * 2.0 * w;
    assert!((dw - dw_ref).abs() < 1e-12, "{dw} vs {dw_ref}");
    agrees_with_central_differences("write_into_a_copy", &[w], &[dw], |p| {
        write_into_a_copy(p[0], &x)
    });
}
