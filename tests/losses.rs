//! The course's vectorized losses written on ndarray the ordinary way, their generated
//! gradients checked against the closed-form backward passes of the notes and against central
//! differences, on non-square shapes and a batch of one.

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis};

/// Deterministic pseudo-random data (an LCG), so the tests need no random crate.
fn data(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_fn((rows, cols), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

fn labels(n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 7 + 3) % classes).collect()
}

/// Central differences of `f` over the entries of `at`, compared entry by entry.
fn check_numeric(
    what: &str,
    at: &Array2<f64>,
    analytic: &Array2<f64>,
    f: impl Fn(&Array2<f64>) -> f64,
) {
    let flat: Vec<f64> = at.iter().copied().collect();
    let numeric = backprop::numeric_gradient(
        |p| f(&Array2::from_shape_vec(at.raw_dim(), p.to_vec()).unwrap()),
        &flat,
    );
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        let error = backprop::relative_error(*a, *n);
        assert!(
            error < 1e-7 || (a - n).abs() < 1e-9,
            "{what}: entry {i}: analytic {a}, numeric {n}"
        );
    }
}

fn assert_close(what: &str, a: &Array2<f64>, b: &Array2<f64>) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + x.abs().max(y.abs())),
            "{what}: {a} vs {b}"
        );
    }
}

/// The multiclass SVM loss, vectorized as in the notes.
#[backprop(wrt(w))]
fn svm_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let n = x.nrows() as f64;
    let scores = x.dot(w);
    let correct = backprop::pick(&scores, y);
    let margins = backprop::relu(&(scores - &correct.insert_axis(Axis(1)) + 1.0));
    // Every row's correct class has margin exactly 1: take those out.
    let data_loss = (margins.sum() - n) / n;
    data_loss + reg * (w * w).sum()
}

/// The notes' hand-written vectorized SVM backward.
fn svm_reference(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> Array2<f64> {
    let n = x.nrows();
    let scores = x.dot(w);
    let mut mask = Array2::<f64>::zeros(scores.raw_dim());
    for i in 0..n {
        for j in 0..scores.ncols() {
            if j != y[i] && scores[[i, j]] - scores[[i, y[i]]] + 1.0 > 0.0 {
                mask[[i, j]] = 1.0;
                mask[[i, y[i]]] -= 1.0;
            }
        }
    }
    x.t().dot(&mask) / n as f64 + 2.0 * reg * w
}

#[test]
fn svm_loss_gradient() {
    for (n, d, c) in [(5, 4, 3), (1, 4, 3), (7, 3, 5)] {
        let (w, x, y) = (data(d, c, 1) * 0.5, data(n, d, 2), labels(n, c));
        let (_, dw) = svm_loss_grad(&w, &x, &y, 0.1);
        assert_close(
            "svm vs the notes' backward",
            &dw,
            &svm_reference(&w, &x, &y, 0.1),
        );
        check_numeric("svm", &w, &dw, |w| svm_loss(w, &x, &y, 0.1));
    }
}

/// Softmax cross-entropy with L2 regularisation.
#[backprop(wrt(w))]
fn softmax_loss(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let scores = x.dot(w);
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * (w * w).sum()
}

/// The notes' backward: dscores = (softmax - one_hot) / n, dW = Xᵀ dscores + reg W.
fn softmax_reference(w: &Array2<f64>, x: &Array2<f64>, y: &[usize], reg: f64) -> Array2<f64> {
    let n = x.nrows();
    let mut dscores = backprop::softmax(&x.dot(w), Axis(1));
    for (i, &label) in y.iter().enumerate() {
        dscores[[i, label]] -= 1.0;
    }
    x.t().dot(&(dscores / n as f64)) + reg * w
}

#[test]
fn softmax_loss_gradient() {
    for (n, d, c) in [(5, 4, 3), (1, 6, 2), (8, 3, 10)] {
        let (w, x, y) = (data(d, c, 3), data(n, d, 4), labels(n, c));
        let (_, dw) = softmax_loss_grad(&w, &x, &y, 0.05);
        assert_close(
            "softmax vs the notes' backward",
            &dw,
            &softmax_reference(&w, &x, &y, 0.05),
        );
        check_numeric("softmax", &w, &dw, |w| softmax_loss(w, &x, &y, 0.05));
    }
}

/// A two-layer net: affine → ReLU → affine → softmax cross-entropy, with L2 regularisation.
#[backprop(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
fn two_layer_loss(
    w1: &Array2<f64>,
    b1: &Array1<f64>,
    w2: &Array2<f64>,
    b2: &Array1<f64>,
    x: &Array2<f64>,
    y: &[usize],
    reg: f64,
) -> f64 {
    let hidden = backprop::relu(&(x.dot(w1) + b1));
    let scores = hidden.dot(w2) + b2;
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum())
}

#[test]
fn two_layer_net_gradient() {
    for (n, d, h, c) in [(6, 4, 5, 3), (1, 3, 4, 2)] {
        let (w1, b1) = (data(d, h, 5), data(1, h, 6).row(0).to_owned());
        let (w2, b2) = (data(h, c, 7), data(1, c, 8).row(0).to_owned());
        let (x, y) = (data(n, d, 9), labels(n, c));
        let (_, (dw1, db1, dw2, db2)) = two_layer_loss_grad(&w1, &b1, &w2, &b2, &x, &y, 0.01);

        // The notes' backward, by hand.
        let pre = x.dot(&w1) + &b1;
        let hidden = pre.mapv(|v| v.max(0.0));
        let mut dscores = backprop::softmax(&(hidden.dot(&w2) + &b2), Axis(1));
        for (i, &label) in y.iter().enumerate() {
            dscores[[i, label]] -= 1.0;
        }
        dscores /= n as f64;
        let dhidden = dscores.dot(&w2.t()) * pre.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
        assert_close("dw2", &dw2, &(hidden.t().dot(&dscores) + 0.01 * &w2));
        assert_close(
            "db2",
            &db2.clone().insert_axis(Axis(0)),
            &dscores.sum_axis(Axis(0)).insert_axis(Axis(0)),
        );
        assert_close("dw1", &dw1, &(x.t().dot(&dhidden) + 0.01 * &w1));
        assert_close(
            "db1",
            &db1.clone().insert_axis(Axis(0)),
            &dhidden.sum_axis(Axis(0)).insert_axis(Axis(0)),
        );

        check_numeric("two-layer dw1", &w1, &dw1, |w| {
            two_layer_loss(w, &b1, &w2, &b2, &x, &y, 0.01)
        });
        check_numeric("two-layer dw2", &w2, &dw2, |w| {
            two_layer_loss(&w1, &b1, w, &b2, &x, &y, 0.01)
        });
    }
}

// The same three losses written with scalar loops over row-major slices, per-sample scores and
// hidden units in local buffers, and differentiated by the macro as well: the vectorized rules
// (matrix products, broadcasting, gates) and the loop rules (buffers, carried sums, branches)
// are two independent derivations of each gradient, and must agree.

fn flat(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

fn assert_same(what: &str, vectorized: &[f64], loops: &[f64]) {
    assert_eq!(vectorized.len(), loops.len(), "{what}");
    for (k, (a, b)) in vectorized.iter().zip(loops).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs())),
            "{what}: entry {k}: vectorized {a}, loops {b}"
        );
    }
}

#[backprop(wrt(w))]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn svm_loss_loops(
    w: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    c: usize,
    reg: f64,
) -> f64 {
    let mut loss = 0.0;
    for i in 0..n {
        let mut scores = vec![0.0; c];
        for k in 0..c {
            for j in 0..d {
                scores[k] += x[i * d + j] * w[j * c + k];
            }
        }
        for k in 0..c {
            if k == y[i] {
                continue;
            }
            loss += (scores[k] - scores[y[i]] + 1.0).max(0.0);
        }
    }
    let mut l2 = 0.0;
    for k in 0..d * c {
        l2 += w[k] * w[k];
    }
    loss / n as f64 + reg * l2
}

#[backprop(wrt(w))]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn softmax_loss_loops(
    w: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    c: usize,
    reg: f64,
) -> f64 {
    let mut loss = 0.0;
    for i in 0..n {
        let mut scores = vec![0.0; c];
        for k in 0..c {
            for j in 0..d {
                scores[k] += x[i * d + j] * w[j * c + k];
            }
        }
        let mut m = scores[0];
        for k in 1..c {
            m = m.max(scores[k]);
        }
        let mut total = 0.0;
        for k in 0..c {
            total += (scores[k] - m).exp();
        }
        loss += total.ln() + m - scores[y[i]];
    }
    let mut l2 = 0.0;
    for k in 0..d * c {
        l2 += w[k] * w[k];
    }
    loss / n as f64 + 0.5 * reg * l2
}

#[backprop(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn two_layer_loss_loops(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    reg: f64,
) -> f64 {
    let (h, c) = (b1.len(), b2.len());
    let mut loss = 0.0;
    for i in 0..n {
        let mut hidden = vec![0.0; h];
        for j in 0..h {
            let mut s = b1[j];
            for k in 0..d {
                s += x[i * d + k] * w1[k * h + j];
            }
            hidden[j] = s.max(0.0);
        }
        let mut scores = vec![0.0; c];
        for k in 0..c {
            let mut s = b2[k];
            for j in 0..h {
                s += hidden[j] * w2[j * c + k];
            }
            scores[k] = s;
        }
        let mut m = scores[0];
        for k in 1..c {
            m = m.max(scores[k]);
        }
        let mut total = 0.0;
        for k in 0..c {
            total += (scores[k] - m).exp();
        }
        loss += total.ln() + m - scores[y[i]];
    }
    let mut l2 = 0.0;
    for k in 0..w1.len() {
        l2 += w1[k] * w1[k];
    }
    for k in 0..w2.len() {
        l2 += w2[k] * w2[k];
    }
    loss / n as f64 + 0.5 * reg * l2
}

#[test]
fn vectorized_and_loop_gradients_agree() {
    for (n, d, c) in [(5, 4, 3), (1, 4, 3), (7, 3, 5)] {
        let (w, x, y) = (data(d, c, 1) * 0.5, data(n, d, 2), labels(n, c));
        let (loss, dw) = svm_loss_grad(&w, &x, &y, 0.1);
        let (loss_loops, dw_loops) = svm_loss_loops_grad(&flat(&w), &flat(&x), &y, n, d, c, 0.1);
        assert_same("svm loss", &[loss], &[loss_loops]);
        assert_same("svm dW", &flat(&dw), &dw_loops);

        let (loss, dw) = softmax_loss_grad(&w, &x, &y, 0.05);
        let (loss_loops, dw_loops) =
            softmax_loss_loops_grad(&flat(&w), &flat(&x), &y, n, d, c, 0.05);
        assert_same("softmax loss", &[loss], &[loss_loops]);
        assert_same("softmax dW", &flat(&dw), &dw_loops);
    }
    for (n, d, h, c) in [(6, 4, 5, 3), (1, 3, 4, 2)] {
        let (w1, b1) = (data(d, h, 5), data(1, h, 6).row(0).to_owned());
        let (w2, b2) = (data(h, c, 7), data(1, c, 8).row(0).to_owned());
        let (x, y) = (data(n, d, 9), labels(n, c));
        let (loss, (dw1, db1, dw2, db2)) = two_layer_loss_grad(&w1, &b1, &w2, &b2, &x, &y, 0.01);
        let (b1s, b2s) = (b1.to_vec(), b2.to_vec());
        let (loss_loops, (dw1_l, db1_l, dw2_l, db2_l)) = two_layer_loss_loops_grad(
            &flat(&w1),
            &b1s,
            &flat(&w2),
            &b2s,
            &flat(&x),
            &y,
            n,
            d,
            0.01,
        );
        assert_same("two-layer loss", &[loss], &[loss_loops]);
        assert_same("two-layer dW1", &flat(&dw1), &dw1_l);
        assert_same("two-layer db1", &db1.to_vec(), &db1_l);
        assert_same("two-layer dW2", &flat(&dw2), &dw2_l);
        assert_same("two-layer db2", &db2.to_vec(), &db2_l);
    }
}
