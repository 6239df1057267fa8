//! Split mode: `#[backprop(split(g))]` differentiates the calls of `g` with `g_forward`, which
//! returns `g`'s value and the closure of its reverse pass, instead of `g_backward`, which runs
//! `g`'s forward pass again. Every `#[backprop]` function has an `f_forward`; hand-written gates
//! (a `g` and a `g_backward`) have none, and keep the default mode.

mod common;

use backprop::backprop;
use backprop::ndarray::{Array1, Array2, Axis, array};
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

/// One step of a recurrence, with the transcendental functions a step costs.
#[backprop]
fn cell(h: f64, w: f64, x: f64) -> f64 {
    let a = h * w + x;
    a.tanh() + 0.1 * (-a * a).exp()
}

fn dual_cell(h: Dual64, w: Dual64, x: Dual64) -> Dual64 {
    let a = h * w + x;
    a.tanh() + (-a * a).exp() * 0.1
}

/// The recurrence `h = cell(h, w[i], x[i])`: each reversed step calls the closure its forward
/// step kept, popped from a tape.
#[backprop(wrt(w, x), split(cell))]
fn unrolled(w: &[f64], x: &[f64]) -> f64 {
    let mut h = 0.0;
    for i in 0..w.len() {
        h = cell(h, w[i], x[i]);
    }
    h * h
}

/// The same, in the default (joint) mode: `cell_backward` in the reverse pass.
#[backprop(wrt(w, x))]
fn unrolled_joint(w: &[f64], x: &[f64]) -> f64 {
    let mut h = 0.0;
    for i in 0..w.len() {
        h = cell(h, w[i], x[i]);
    }
    h * h
}

#[test]
fn a_recurrence_through_a_split_call() {
    let n = 5;
    let reference = |v: &[Dual64]| {
        let mut h = c(0.0);
        for i in 0..n {
            h = dual_cell(h, v[i], v[n + i]);
        }
        h * h
    };
    for seed in [0.3, -1.1] {
        let at: Vec<f64> = (0..2 * n)
            .map(|k| (k as f64 * 0.9 + seed).sin() * 0.8)
            .collect();
        let (w, x) = at.split_at(n);
        assert_gradient_exact(
            "unrolled",
            &at,
            unrolled_grad(w, x),
            dual_gradient(reference, &at),
            |p| unrolled(&p[..n], &p[n..]),
            1e-12,
        );
        // The same gradient as the default mode.
        let (joint_value, (joint_w, joint_x)) = unrolled_joint_grad(w, x);
        let (value, (d_w, d_x)) = unrolled_grad(w, x);
        assert!((value - joint_value).abs() <= 1e-15 * value.abs().max(1.0));
        for (a, b) in d_w.iter().chain(&d_x).zip(joint_w.iter().chain(&joint_x)) {
            assert!((a - b).abs() <= 1e-14 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
    let source = unrolled_backward_source();
    check_snapshot("split_recurrence", source);
    // The callee's forward pass runs once: `cell_forward`, its closure on a tape, no
    // `cell_backward`.
    assert!(source.contains("cell_forward(h_1, w[i], x[i])"), "{source}");
    assert!(
        source.contains("h_2_reverse_tape.push(h_2_reverse)"),
        "{source}"
    );
    assert!(!source.contains("cell_backward"), "{source}");
    assert!(unrolled_joint_backward_source().contains("cell_backward"));
}

#[test]
fn f_forward_gives_the_value_and_the_reverse_of_f_backward() {
    for (h, w, x, d) in [(0.2, 0.7, -0.4, 1.0), (-0.9, 1.3, 0.5, -0.6)] {
        let (value, reverse) = cell_forward(h, w, x);
        let gradients = reverse(d);
        let (value_b, gradients_b) = cell_backward(h, w, x, d);
        assert_eq!(value, value_b);
        assert_eq!(gradients, gradients_b);
    }
    // With loops, buffers and tapes: the forward pass runs to the end, the closure later.
    let w = [0.3, -0.2, 0.9, 0.4];
    let x = [0.1, 0.5, -0.7, 0.2];
    let (value, reverse) = unrolled_forward(&w, &x);
    let (d_w, d_x) = reverse(0.5);
    let (value_b, (d_w_b, d_x_b)) = unrolled_backward(&w, &x, 0.5);
    assert_eq!(value, value_b);
    for (a, b) in d_w.iter().chain(&d_x).zip(d_w_b.iter().chain(&d_x_b)) {
        assert!((a - b).abs() <= 1e-14 * a.abs().max(1.0), "{a} vs {b}");
    }
}

/// A callee with slices and a loop, called on sub-slices, in both arms' way: one branch arm
/// calls it, a `while` loop with a `break` calls it again.
#[backprop]
fn neuron(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s.tanh()
}

#[backprop(wrt(w), split(neuron))]
fn neurons_loss(w: &[f64], xs: &[f64], n: usize, limit: f64) -> f64 {
    let d = w.len();
    let mut loss = 0.0;
    for k in 0..n {
        let y = neuron(w, &xs[k * d..(k + 1) * d]);
        if y > 0.0 {
            loss += (y - 0.5) * (y - 0.5);
        } else {
            loss += 0.1 * neuron(w, &xs[k * d..(k + 1) * d]).exp();
        }
    }
    let mut t = 0;
    let mut acc = loss;
    while t < n {
        let y = neuron(w, &xs[t * d..(t + 1) * d]);
        if acc > limit {
            break;
        }
        acc += y * y;
        t += 1;
    }
    acc
}

fn dual_neuron(w: &[Dual64], x: &[f64]) -> Dual64 {
    let mut s = c(0.0);
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s.tanh()
}

#[test]
fn split_calls_in_arms_and_in_a_loop_that_breaks() {
    let (d, n) = (3, 4);
    let xs: Vec<f64> = (0..n * d).map(|k| (k as f64 * 1.7).cos()).collect();
    for (seed, limit) in [(0.2, 100.0), (1.3, 0.6), (-0.5, 0.3)] {
        let w: Vec<f64> = (0..d).map(|k| (k as f64 + seed).sin()).collect();
        let reference = |v: &[Dual64]| {
            let mut loss = c(0.0);
            for k in 0..n {
                let y = dual_neuron(v, &xs[k * d..(k + 1) * d]);
                if y.re > 0.0 {
                    loss += (y - 0.5) * (y - 0.5);
                } else {
                    loss += dual_neuron(v, &xs[k * d..(k + 1) * d]).exp() * 0.1;
                }
            }
            let mut acc = loss;
            for t in 0..n {
                let y = dual_neuron(v, &xs[t * d..(t + 1) * d]);
                if acc.re > limit {
                    break;
                }
                acc += y * y;
            }
            acc
        };
        assert_gradient_exact(
            "neurons_loss",
            &w,
            neurons_loss_grad(&w, &xs, n, limit),
            dual_gradient(reference, &w),
            |p| neurons_loss(p, &xs, n, limit),
            1e-12,
        );
    }
    assert!(!neurons_loss_backward_source().contains("neuron_backward"));
}

/// A callee on ndarray arrays, whose reverse reads a view (`x.t()`) of an array it computed.
#[backprop]
fn affine_energy(w: &Array1<f64>, x: &Array2<f64>) -> f64 {
    let z = x.dot(w).mapv(f64::tanh);
    let g = z.clone().insert_axis(Axis(1));
    (&g * &g).sum() + z.sum()
}

#[backprop(wrt(w), split(affine_energy))]
fn energies(w: &Array1<f64>, x: &Array2<f64>, steps: usize) -> f64 {
    let mut total = 0.0;
    for s in 0..steps {
        total += affine_energy(w, x) * (s as f64 + 1.0);
    }
    total
}

#[test]
fn a_split_callee_on_arrays() {
    let x = array![[0.5, -1.0, 0.3], [0.2, 0.4, -0.8]];
    let w = Array1::from(vec![0.3, -0.6, 0.9]);
    let reference = |v: &[Dual64]| {
        let mut energy = c(0.0);
        for r in 0..2 {
            let z = (v[0] * x[[r, 0]] + v[1] * x[[r, 1]] + v[2] * x[[r, 2]]).tanh();
            energy += z * z + z;
        }
        energy * 3.0
    };
    let (value, d_w) = energies_grad(&w, &x, 2);
    assert_gradient_exact(
        "energies",
        w.as_slice().unwrap(),
        (value, d_w.to_vec()),
        dual_gradient(reference, w.as_slice().unwrap()),
        |p| energies(&Array1::from(p.to_vec()), &x, 2),
        1e-12,
    );
}

/// f32: the closure's types follow the callee's.
#[backprop]
fn cell32(h: f32, w: f32, x: f32) -> f32 {
    (h * w + x).tanh()
}

#[backprop(split(cell32))]
fn unrolled32(w: &[f32], x: &[f32]) -> f32 {
    let mut h = 0.0f32;
    for i in 0..w.len() {
        h = cell32(h, w[i], x[i]);
    }
    h
}

#[test]
fn split_calls_in_f32() {
    let n = 4;
    let at: Vec<f32> = (0..2 * n).map(|k| (k as f32 * 0.7).sin() * 0.9).collect();
    let reference = |v: &[Dual32]| {
        let mut h = Dual32::from_re(0.0);
        for i in 0..n {
            h = (h * v[i] + v[n + i]).tanh();
        }
        h
    };
    assert_gradient_exact(
        "unrolled32",
        &at,
        unrolled32_grad(&at[..n], &at[n..]),
        dual_gradient(reference, &at),
        |p| unrolled32(&p[..n], &p[n..]),
        1e-5,
    );
}
