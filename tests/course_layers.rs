//! The course's remaining layers, each written as its numpy original is and ported to ndarray
//! line by line: batch normalisation and layer normalisation in training mode, dropout with a
//! fixed mask, a word embedding, a temporal affine layer (reshaped to 2-D and back), a
//! temporal softmax loss with a mask, and features concatenated before an affine layer. Each
//! layer returns its output and is checked through `_backward` with a random upstream, as the
//! course's gradient checks do: against the course's hand-written backward and against
//! central differences of `<dout, f(p)>`.

#![allow(clippy::needless_range_loop)] // written as the numpy originals, by index

use backprop::backprop;
use backprop::ndarray::{self, Array1, Array2, Array3, Axis, array, concatenate};

fn close_slices(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * x.abs().max(y.abs()).max(1.0),
            "{what}[{k}]: {x} vs {y}"
        );
    }
}

fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f64, D>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// Central differences of `f` at `at` agree with `analytic`.
fn agrees(what: &str, at: &[f64], analytic: &[f64], f: impl FnMut(&[f64]) -> f64) {
    let report = backprop::check_gradient(f, at, analytic);
    assert!(
        report.passed(),
        "{what}: disagrees with central differences\n{report}"
    );
}

fn pseudo(shape: (usize, usize), seed: f64) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| ((i * 7 + j) as f64 * seed + seed).sin())
}

/// `batchnorm_forward` in training mode:
/// `mu = x.mean(0); xc = x - mu; var = (xc**2).mean(0); xn = xc / sqrt(var + eps)`.
#[backprop(wrt(x, gamma, beta))]
fn batchnorm(x: &Array2<f64>, gamma: &Array1<f64>, beta: &Array1<f64>, eps: f64) -> Array2<f64> {
    let mu = x.mean_axis(Axis(0)).unwrap();
    let xc = x - &mu;
    let var = (&xc * &xc).mean_axis(Axis(0)).unwrap();
    let std = (var + eps).mapv(f64::sqrt);
    let xn = &xc / &std;
    gamma * &xn + beta
}

/// The same with ndarray's `var_axis`, as a Rust programmer may write it.
#[backprop(wrt(x, gamma, beta))]
fn batchnorm_var_axis(
    x: &Array2<f64>,
    gamma: &Array1<f64>,
    beta: &Array1<f64>,
    eps: f64,
) -> Array2<f64> {
    let mu = x.mean_axis(Axis(0)).unwrap();
    let var = x.var_axis(Axis(0), 0.0);
    let xn = (x - &mu) / (var + eps).mapv(f64::sqrt);
    gamma * &xn + beta
}

/// `layernorm_forward`: the statistics of each row, `std_axis` for the deviation.
#[backprop(wrt(x, gamma, beta))]
fn layernorm(x: &Array2<f64>, gamma: &Array1<f64>, beta: &Array1<f64>, eps: f64) -> Array2<f64> {
    let mu = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    let sd = (x.var_axis(Axis(1), 0.0) + eps)
        .mapv(f64::sqrt)
        .insert_axis(Axis(1));
    let xn = (x - &mu) / &sd;
    gamma * &xn + beta
}

#[test]
fn batch_and_layer_normalisation_are_the_courses() {
    let x = pseudo((4, 3), 0.9) * 2.0 + 0.5;
    let gamma = array![1.2, 0.7, -0.4];
    let beta = array![0.1, -0.2, 0.3];
    let dout = pseudo((4, 3), 1.7);
    let eps = 1e-5;
    // The course's batchnorm_backward (the simplified formula).
    let n = 4.0;
    let mu = x.mean_axis(Axis(0)).unwrap();
    let var = x.var_axis(Axis(0), 0.0);
    let std = (&var + eps).mapv(f64::sqrt);
    let xn = (&x - &mu) / &std;
    let dbeta = dout.sum_axis(Axis(0));
    let dgamma = (&dout * &xn).sum_axis(Axis(0));
    let dxn = &dout * &gamma;
    let dx = (1.0 / n) / &std
        * (n * &dxn - dxn.sum_axis(Axis(0)) - &xn * (&dxn * &xn).sum_axis(Axis(0)));
    for (name, (out, (gx, gg, gb))) in [
        (
            "batchnorm",
            batchnorm_backward(&x, &gamma, &beta, eps, dout.clone()),
        ),
        (
            "batchnorm_var_axis",
            batchnorm_var_axis_backward(&x, &gamma, &beta, eps, dout.clone()),
        ),
    ] {
        close_slices(name, &flat(&out), &flat(&(&gamma * &xn + &beta)), 1e-12);
        close_slices(name, &flat(&gx), &flat(&dx), 1e-9);
        close_slices(name, &flat(&gg), &flat(&dgamma), 1e-12);
        close_slices(name, &flat(&gb), &flat(&dbeta), 1e-12);
    }
    let at: Vec<f64> = x.iter().chain(&gamma).copied().collect();
    let (_, (gx, gg, _)) = batchnorm_var_axis_backward(&x, &gamma, &beta, eps, dout.clone());
    let analytic: Vec<f64> = gx.iter().chain(&gg).copied().collect();
    agrees("batchnorm", &at, &analytic, |p| {
        let x = Array2::from_shape_vec((4, 3), p[..12].to_vec()).unwrap();
        let g = Array1::from_vec(p[12..].to_vec());
        (batchnorm_var_axis(&x, &g, &beta, eps) * &dout).sum()
    });

    // Layer norm: the same formula on rows.
    let (out, (gx, gg, gb)) = layernorm_backward(&x, &gamma, &beta, eps, dout.clone());
    let m = 3.0;
    let mu = x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    let sd = (x.var_axis(Axis(1), 0.0) + eps)
        .mapv(f64::sqrt)
        .insert_axis(Axis(1));
    let xn = (&x - &mu) / &sd;
    close_slices(
        "layernorm out",
        &flat(&out),
        &flat(&(&gamma * &xn + &beta)),
        1e-12,
    );
    let dxn = &dout * &gamma;
    let dx = (1.0 / m) / &sd
        * (m * &dxn
            - dxn.sum_axis(Axis(1)).insert_axis(Axis(1))
            - &xn * (&dxn * &xn).sum_axis(Axis(1)).insert_axis(Axis(1)));
    close_slices("layernorm dx", &flat(&gx), &flat(&dx), 1e-9);
    close_slices(
        "layernorm dgamma",
        &flat(&gg),
        &flat(&(&dout * &xn).sum_axis(Axis(0))),
        1e-12,
    );
    close_slices(
        "layernorm dbeta",
        &flat(&gb),
        &flat(&dout.sum_axis(Axis(0))),
        1e-12,
    );
}

/// `dropout_forward` in training mode with the mask drawn outside: `x * mask / p`.
#[backprop(wrt(x))]
fn dropout(x: &Array2<f64>, mask: &Array2<f64>, p: f64) -> Array2<f64> {
    x * mask / p
}

/// `word_embedding_forward`: `out = W[x]`, the rows of `W` picked by the word indices.
#[backprop(wrt(w))]
fn word_embedding(w: &Array2<f64>, words: &[usize]) -> Array2<f64> {
    w.select(Axis(0), words)
}

/// `temporal_affine_forward`: `x.reshape(N * T, D).dot(w).reshape(N, T, M) + b`.
#[backprop(wrt(x, w, b))]
fn temporal_affine(x: &Array3<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array3<f64> {
    let (n, t, d) = x.dim();
    let m = w.ncols();
    let flat = x.to_shape((n * t, d)).unwrap();
    let out = flat.dot(w).into_shape_with_order((n, t, m)).unwrap();
    out + b
}

/// Two feature sets side by side, then an affine read-out.
#[backprop(wrt(a, b, w))]
fn concatenated(a: &Array2<f64>, b: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    let both = concatenate(Axis(1), &[a.view(), b.view()]).unwrap();
    both.dot(w)
}

#[test]
fn dropout_embedding_temporal_affine_and_concatenation() {
    let x = pseudo((3, 4), 0.8);
    let mask = Array2::from_shape_fn(
        (3, 4),
        |(i, j)| if (i + 2 * j) % 3 == 0 { 0.0 } else { 1.0 },
    );
    let dout = pseudo((3, 4), 1.3);
    let (_, dx) = dropout_backward(&x, &mask, 0.5, dout.clone());
    close_slices("dropout", &flat(&dx), &flat(&(&dout * &mask / 0.5)), 1e-15);

    let w = pseudo((5, 3), 0.6);
    let words = [4, 0, 4, 2];
    let dout = pseudo((4, 3), 2.1);
    let (out, dw) = word_embedding_backward(&w, &words, dout.clone());
    close_slices(
        "embedding out",
        &flat(&out),
        &flat(&w.select(Axis(0), &words)),
        0.0,
    );
    // The course's word_embedding_backward: np.add.at(dW, x, dout).
    let mut dw_ref = Array2::<f64>::zeros((5, 3));
    for (k, &i) in words.iter().enumerate() {
        let mut row = dw_ref.row_mut(i);
        row += &dout.row(k);
    }
    close_slices("embedding dW", &flat(&dw), &flat(&dw_ref), 1e-15);

    let x3 = Array3::from_shape_fn((2, 3, 4), |(n, t, d)| {
        ((n * 12 + t * 4 + d) as f64 * 0.37).sin()
    });
    let w = pseudo((4, 5), 0.45);
    let b = array![0.1, -0.2, 0.3, 0.0, 0.5];
    let dout3 = Array3::from_shape_fn((2, 3, 5), |(n, t, m)| {
        ((n * 15 + t * 5 + m) as f64 * 0.91).cos()
    });
    let (out, (dx3, dw, db)) = temporal_affine_backward(&x3, &w, &b, dout3.clone());
    let x2 = x3.to_shape((6, 4)).unwrap().into_owned();
    let d2 = dout3.to_shape((6, 5)).unwrap().into_owned();
    let out_ref = (x2.dot(&w) + &b).into_shape_with_order((2, 3, 5)).unwrap();
    close_slices("temporal out", &flat(&out), &flat(&out_ref), 1e-14);
    close_slices("temporal dx", &flat(&dx3), &flat(&d2.dot(&w.t())), 1e-14);
    close_slices("temporal dw", &flat(&dw), &flat(&x2.t().dot(&d2)), 1e-14);
    close_slices(
        "temporal db",
        &flat(&db),
        &flat(&d2.sum_axis(Axis(0))),
        1e-14,
    );

    let a = pseudo((3, 2), 0.3);
    let bb = pseudo((3, 3), 0.7);
    let w = pseudo((5, 2), 1.1);
    let dout = pseudo((3, 2), 0.2);
    let (_, (da, db, dw)) = concatenated_backward(&a, &bb, &w, dout.clone());
    let dboth = dout.dot(&w.t());
    close_slices(
        "concat da",
        &flat(&da),
        &flat(&dboth.slice(ndarray::s![.., 0..2]).to_owned()),
        1e-14,
    );
    close_slices(
        "concat db",
        &flat(&db),
        &flat(&dboth.slice(ndarray::s![.., 2..5]).to_owned()),
        1e-14,
    );
    let both = concatenate(Axis(1), &[a.view(), bb.view()]).unwrap();
    close_slices("concat dw", &flat(&dw), &flat(&both.t().dot(&dout)), 1e-14);
}

/// `temporal_softmax_loss`: a softmax over the vocabulary at every time step, the loss of the
/// steps the mask keeps, averaged over the minibatch.
#[backprop(wrt(x))]
fn temporal_softmax_loss(x: &Array3<f64>, y: &[usize], mask: &Array1<f64>) -> f64 {
    let (n, t, v) = x.dim();
    let flat = x.to_shape((n * t, v)).unwrap();
    let log_probs = backprop::log_softmax(&flat, Axis(1));
    let picked = backprop::pick(&log_probs, y);
    -(&picked * mask).sum() / n as f64
}

#[test]
fn temporal_softmax_with_a_mask_is_the_courses() {
    let x = Array3::from_shape_fn((2, 3, 4), |(n, t, v)| {
        ((n * 12 + t * 4 + v) as f64 * 0.77).sin() * 2.0
    });
    let y = [1, 3, 0, 2, 2, 1];
    let mask = array![1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    let (loss, dx) = temporal_softmax_loss_grad(&x, &y, &mask);
    // The course's: dx = (probs − onehot(y)) · mask / N.
    let scores = x.to_shape((6, 4)).unwrap().into_owned();
    let mut probs = scores.clone();
    for mut row in probs.rows_mut() {
        let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    let expected_loss: f64 = -(0..6).map(|i| mask[i] * probs[[i, y[i]]].ln()).sum::<f64>() / 2.0;
    assert!(
        (loss - expected_loss).abs() < 1e-12,
        "{loss} vs {expected_loss}"
    );
    let mut dflat = probs.clone();
    for i in 0..6 {
        dflat[[i, y[i]]] -= 1.0;
        let mut row = dflat.row_mut(i);
        row *= mask[i] / 2.0;
    }
    close_slices("temporal softmax dx", &flat_of3(&dx), &flat(&dflat), 1e-12);
    agrees("temporal softmax", &flat_of3(&x), &flat_of3(&dx), |p| {
        let x = Array3::from_shape_vec((2, 3, 4), p.to_vec()).unwrap();
        temporal_softmax_loss(&x, &y, &mask)
    });
}

fn flat_of3(a: &Array3<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// A vanilla RNN over per-step inputs given as a slice of matrices, read as `xs[t]`.
#[backprop(wrt(wx, wh, b))]
fn rnn_over_steps(
    xs: &[Array2<f64>],
    h0: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
) -> f64 {
    let mut h = h0.clone();
    for t in 0..xs.len() {
        h = (xs[t].dot(wx) + h.dot(wh) + b).tanh();
    }
    (&h * &h).sum()
}

/// The same RNN written over the steps themselves, `for x in xs`, as the numpy loop is.
#[backprop(wrt(wx, wh, b))]
fn rnn_over_step_values(
    xs: &[Array2<f64>],
    h0: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
) -> f64 {
    let mut h = h0.clone();
    for x in xs {
        h = (x.dot(wx) + h.dot(wh) + b).tanh();
    }
    (&h * &h).sum()
}

#[test]
fn an_rnn_over_a_slice_of_step_inputs() {
    let xs: Vec<Array2<f64>> = (0..4)
        .map(|t| pseudo((3, 2), 0.3 + t as f64 * 0.2))
        .collect();
    let h0 = pseudo((3, 4), 0.8) * 0.5;
    let wx = pseudo((2, 4), 1.1) * 0.7;
    let wh = pseudo((4, 4), 0.45) * 0.5;
    let b = array![0.1, -0.1, 0.05, 0.0];
    let (_, (dwx, dwh, db)) = rnn_over_steps_grad(&xs, &h0, &wx, &wh, &b);
    // The course's rnn_backward: forward, keeping every state, then back through time.
    let mut hs = vec![h0.clone()];
    for x in &xs {
        let next = (x.dot(&wx) + hs.last().unwrap().dot(&wh) + &b).tanh();
        hs.push(next);
    }
    let mut dh = 2.0 * hs.last().unwrap();
    let (mut dwx_ref, mut dwh_ref, mut db_ref) = (
        Array2::zeros((2, 4)),
        Array2::zeros((4, 4)),
        Array1::zeros(4),
    );
    for t in (0..4).rev() {
        let dz = &dh * &(1.0 - &hs[t + 1] * &hs[t + 1]);
        dwx_ref = dwx_ref + xs[t].t().dot(&dz);
        dwh_ref = dwh_ref + hs[t].t().dot(&dz);
        db_ref = db_ref + dz.sum_axis(Axis(0));
        dh = dz.dot(&wh.t());
    }
    close_slices("dWx", &flat(&dwx), &flat(&dwx_ref), 1e-12);
    close_slices("dWh", &flat(&dwh), &flat(&dwh_ref), 1e-12);
    close_slices("db", &flat(&db), &flat(&db_ref), 1e-12);
    let (_, (dwx, dwh, db)) = rnn_over_step_values_grad(&xs, &h0, &wx, &wh, &b);
    close_slices("dWx, for x in xs", &flat(&dwx), &flat(&dwx_ref), 1e-12);
    close_slices("dWh, for x in xs", &flat(&dwh), &flat(&dwh_ref), 1e-12);
    close_slices("db, for x in xs", &flat(&db), &flat(&db_ref), 1e-12);
    // `Vec<Array2<f64>>` is read the same way: d/dw Σ_t Σ (x_t · w) = Σ_t x_tᵀ · 1.
    let (_, dw) = steps_read_out_grad(xs.clone(), &wx);
    let ones = Array2::<f64>::ones((3, 4));
    let expected = xs
        .iter()
        .fold(Array2::zeros((2, 4)), |acc, x| acc + x.t().dot(&ones));
    close_slices("from a Vec", &flat(&dw), &flat(&expected), 1e-14);
}

#[backprop(wrt(w))]
fn steps_read_out(xs: Vec<Array2<f64>>, w: &Array2<f64>) -> f64 {
    let mut total = 0.0;
    for t in 0..xs.len() {
        total += xs[t].dot(w).sum();
    }
    total
}
