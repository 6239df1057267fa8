//! Arrays carried by loops: an ndarray hidden state replaced in every iteration
//! (`h = (x_t.dot(&wx) + h.dot(&wh) + &b).mapv(f64::tanh)`), checked against central
//! differences and against the same recurrence on dual numbers.

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, array};
use common::{assert_gradient_exact, c, dual_gradient};
use num_dual::{Dual64, DualNum};

/// An Elman RNN over the rows of `xs`, its hidden state carried by the loop; the loss is the
/// last state's sum.
#[backprop(wrt(wx, wh, b))]
fn rnn_loss(
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    xs: &Array2<f64>,
    h0: &Array1<f64>,
) -> f64 {
    let steps = xs.nrows();
    let mut h = h0.clone();
    for t in 0..steps {
        let x_t = xs.row(t);
        h = (x_t.dot(wx) + h.dot(wh) + b).mapv(f64::tanh);
    }
    h.sum()
}

#[test]
fn hidden_state_carried_by_the_loop() {
    let wx = array![[0.5, -0.3, 0.8], [0.1, 0.7, -0.6]];
    let wh = array![[0.2, -0.5, 0.1], [0.4, 0.3, -0.2], [-0.6, 0.1, 0.5]];
    let b = array![0.1, -0.2, 0.05];
    let xs = array![[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4], [0.6, 0.6]];
    let h0 = array![0.0, 0.1, -0.1];
    let at: Vec<f64> = wx.iter().chain(&wh).chain(&b).copied().collect();
    let unflat = |p: &[f64]| {
        (
            Array2::from_shape_vec((2, 3), p[..6].to_vec()).unwrap(),
            Array2::from_shape_vec((3, 3), p[6..15].to_vec()).unwrap(),
            Array1::from(p[15..].to_vec()),
        )
    };
    let reference = |v: &[Dual64]| {
        let mut h: Vec<Dual64> = h0.iter().map(|&x| c(x)).collect();
        for t in 0..4 {
            h = (0..3)
                .map(|j| {
                    let mut a = v[15 + j];
                    for i in 0..2 {
                        a += v[i * 3 + j] * xs[[t, i]];
                    }
                    for k in 0..3 {
                        a += h[k] * v[6 + k * 3 + j];
                    }
                    a.tanh()
                })
                .collect();
        }
        h.iter().fold(c(0.0), |s, &x| s + x)
    };
    let (value, (dwx, dwh, db)) = rnn_loss_grad(&wx, &wh, &b, &xs, &h0);
    let flat: Vec<f64> = dwx.iter().chain(&dwh).chain(&db).copied().collect();
    assert_gradient_exact(
        "rnn_loss",
        &at,
        (value, flat),
        dual_gradient(reference, &at),
        |p| {
            let (wx, wh, b) = unflat(p);
            rnn_loss(&wx, &wh, &b, &xs, &h0)
        },
        1e-12,
    );
}

/// Power iteration in f32, in a `while` loop: the vector normalised in every step.
#[backprop(wrt(m))]
fn power_steps(m: &Array2<f32>, v0: &Array1<f32>, steps: usize) -> f32 {
    let mut v = v0.to_owned();
    let mut k = 0;
    while k < steps {
        let w = m.dot(&v);
        let norm = (&w * &w).sum().sqrt();
        v = w / norm;
        k += 1;
    }
    v.sum()
}

#[test]
fn vector_carried_by_a_while_loop_f32() {
    let m = array![[2.0f32, 0.5, -0.3], [0.1, 1.5, 0.4], [-0.2, 0.3, 1.0]];
    let v0 = array![1.0f32, 0.5, -0.5];
    let at: Vec<f32> = m.iter().copied().collect();
    let reference = |p: &[num_dual::Dual32]| {
        let mut v: Vec<num_dual::Dual32> = v0.iter().map(|&x| c(x)).collect();
        for _ in 0..3 {
            let w: Vec<num_dual::Dual32> = (0..3)
                .map(|i| (0..3).fold(c(0.0), |s, j| s + p[i * 3 + j] * v[j]))
                .collect();
            let norm = w.iter().fold(c(0.0), |s, &x| s + x * x).sqrt();
            v = w.iter().map(|&x| x / norm).collect();
        }
        v.iter().fold(c(0.0), |s, &x| s + x)
    };
    let (value, dm) = power_steps_grad(&m, &v0, 3);
    assert_gradient_exact(
        "power_steps",
        &at,
        (value, dm.iter().copied().collect::<Vec<f32>>()),
        dual_gradient(reference, &at),
        |p| power_steps(&Array2::from_shape_vec((3, 3), p.to_vec()).unwrap(), &v0, 3),
        1e-5,
    );
}

/// A carried array and a carried scalar together, with a `break` guard: gradient descent on
/// a quadratic until the step is small.
#[backprop(wrt(a, x0))]
fn descend(a: &Array2<f64>, x0: &Array1<f64>, rate: f64) -> f64 {
    let mut x = x0.to_owned();
    let mut travelled = 0.0;
    for _step in 0..20 {
        let g = a.dot(&x);
        let step = (&g * &g).sum();
        if step < 1e-3 {
            break;
        }
        x = &x - &(g * rate);
        travelled += step.sqrt();
    }
    (&x * &x).sum() + travelled
}

#[test]
fn array_and_scalar_carried_with_a_break() {
    let a = array![[0.9, 0.2], [0.2, 0.6]];
    let x0 = array![1.0, -0.7];
    let at: Vec<f64> = a.iter().chain(&x0).copied().collect();
    let reference = |p: &[Dual64]| {
        let mut x = vec![p[4], p[5]];
        let mut travelled = c(0.0);
        for _ in 0..20 {
            let g: Vec<Dual64> = (0..2)
                .map(|i| p[i * 2] * x[0] + p[i * 2 + 1] * x[1])
                .collect();
            let step = g[0] * g[0] + g[1] * g[1];
            if step.re < 1e-3 {
                break;
            }
            x = vec![x[0] - g[0] * 0.3, x[1] - g[1] * 0.3];
            travelled += step.sqrt();
        }
        x[0] * x[0] + x[1] * x[1] + travelled
    };
    let (value, (da, dx0)) = descend_grad(&a, &x0, 0.3);
    let flat: Vec<f64> = da.iter().chain(&dx0).copied().collect();
    assert_gradient_exact(
        "descend",
        &at,
        (value, flat),
        dual_gradient(reference, &at),
        |p| {
            let a = Array2::from_shape_vec((2, 2), p[..4].to_vec()).unwrap();
            descend(&a, &Array1::from(p[4..].to_vec()), 0.3)
        },
        1e-11,
    );
}

/// Explicit Euler steps of a chain of states, as GradBench's `ode` eval describes them: the
/// state starts as a copy of the input (`x.to_vec()`), each step fills a new vector, and the
/// state is replaced by it (`y = next;`).
#[backprop(wrt(x))]
#[allow(clippy::needless_range_loop)]
fn ode_euler(x: &[f64], s: usize) -> f64 {
    let n = x.len();
    let h = 1.0 / s as f64;
    let mut y = x.to_vec();
    for _step in 0..s {
        let mut next = vec![0.0; n];
        next[0] = y[0] + h * x[0];
        for i in 1..n {
            next[i] = y[i] + h * x[i] * y[i - 1];
        }
        y = next;
    }
    y[n - 1]
}

#[test]
fn state_vector_replaced_in_every_step() {
    let x = [0.8, -0.4, 1.2, 0.5];
    let reference = |v: &[Dual64]| {
        let h = 1.0 / 5.0;
        let mut y: Vec<Dual64> = v.to_vec();
        for _ in 0..5 {
            let mut next = vec![y[0] + v[0] * h];
            for i in 1..4 {
                next.push(y[i] + v[i] * h * y[i - 1]);
            }
            y = next;
        }
        y[3]
    };
    assert_gradient_exact(
        "ode_euler",
        &x,
        ode_euler_grad(&x, 5),
        dual_gradient(reference, &x),
        |p| ode_euler(p, 5),
        1e-12,
    );
}

/// A fixed-size state copied from a parameter (`let mut st = w;` of `[f32; 3]`), rotated in
/// place.
#[backprop]
fn rotate_state(w: [f32; 3], a: f32) -> f32 {
    let mut st = w;
    for _ in 0..4 {
        let first = st[0];
        st[0] = st[1] * a;
        st[1] = st[2] + first.sin();
        st[2] = first * st[0];
    }
    st[0] + st[1] * st[2]
}

#[test]
fn array_state_copied_from_a_parameter_f32() {
    let reference = |v: &[num_dual::Dual32]| {
        let mut st = [v[0], v[1], v[2]];
        for _ in 0..4 {
            let first = st[0];
            st[0] = st[1] * v[3];
            st[1] = st[2] + first.sin();
            st[2] = first * st[0];
        }
        st[0] + st[1] * st[2]
    };
    let at = [0.3f32, -0.6, 0.9, 0.8];
    let (value, (dw, da)) = rotate_state_grad([at[0], at[1], at[2]], at[3]);
    let flat = vec![dw[0], dw[1], dw[2], da];
    assert_gradient_exact(
        "rotate_state",
        &at,
        (value, flat),
        dual_gradient(reference, &at),
        |p| rotate_state([p[0], p[1], p[2]], p[3]),
        1e-5,
    );
}

// ---------------------------------------------------------------------------------------------
// Found by the loop programs of `tests/tensor_differential.rs` (fixed in bc1a301; the
// generator's `BREAK_AFTER_ARRAY_UPDATE` and `CARRIED_COPY_OF_VIEW` kept them out until then).
// Both generated code that did not compile.

use backprop::ndarray::ArrayView1;

/// A `break` guard after the carried array's update in the same iteration. The breaking
/// iteration handed the new array on by reference, `h_1 = &h_2;` into the owned `h_1` (the
/// complete iterations move it, `h_1 = h_2;`): E0308, expected `ArrayBase`, found `&ArrayBase`.
#[backprop]
fn break_after_update(h0: &Array1<f64>) -> f64 {
    let mut h = h0.clone();
    for _step in 0..5 {
        h = (&h * 1.5).tanh();
        if h.sum() > 1.0 {
            break;
        }
    }
    h.sum()
}

#[test]
fn break_guard_after_the_carried_array_update() {
    // It breaks in the third step at the first point, never at the second.
    for at in [[0.3, 0.2], [0.05, -0.1]] {
        let reference = |v: &[Dual64]| {
            let mut h = v.to_vec();
            for _ in 0..5 {
                h = h.iter().map(|&x| (x * 1.5).tanh()).collect();
                if h.iter().map(|x| x.re).sum::<f64>() > 1.0 {
                    break;
                }
            }
            h.iter().fold(c(0.0), |s, &x| s + x)
        };
        assert_gradient_exact(
            "break_after_update",
            &at,
            break_after_update_grad(&Array1::from(at.to_vec())),
            dual_gradient(reference, &at),
            |p| break_after_update(&Array1::from(p.to_vec())),
            1e-12,
        );
    }
}

/// A carried array that starts as a copy of a view parameter, `let mut h = h0.to_owned();`.
/// The macro took the copy for another name of `h0` and started the loop from
/// `let mut h_1 = h0.clone();`, a view, which the owned arrays of the iterations cannot
/// replace (`std::mem::replace(&mut h_1, h_2)`): E0308, expected
/// `ArrayBase<ViewRepr<&f64>, ..>`, found `ArrayBase<OwnedRepr<f64>, ..>`.
#[backprop]
fn copy_of_view_carried(h0: ArrayView1<f64>) -> f64 {
    let mut h = h0.to_owned();
    for _step in 0..3 {
        h = (&h * 1.5).tanh();
    }
    h.sum()
}

#[test]
fn carried_array_copied_from_a_view() {
    let at = [0.4, -0.3, 0.8];
    let reference = |v: &[Dual64]| {
        let mut h = v.to_vec();
        for _ in 0..3 {
            h = h.iter().map(|&x| (x * 1.5).tanh()).collect();
        }
        h.iter().fold(c(0.0), |s, &x| s + x)
    };
    let h0 = Array1::from(at.to_vec());
    assert_gradient_exact(
        "copy_of_view_carried",
        &at,
        copy_of_view_carried_grad(h0.view()),
        dual_gradient(reference, &at),
        |p| copy_of_view_carried(Array1::from(p.to_vec()).view()),
        1e-12,
    );
}
