//! Loops: `for` over ranges, loop-carried variables, branches and `continue` inside loops,
//! slices read at computed indices; checked against dual numbers and central differences.

// Index loops are one form `#[backprop]` differentiates; loops over elements (`for v in &w`) the
// other (iterator adaptors are not supported).
#![allow(clippy::needless_range_loop, clippy::assign_op_pattern)]

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, check_snapshot, dual_gradient};
use num_dual::{Dual64, DualNum};

#[backprop]
fn dot(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s
}

#[test]
fn dot_product_loop() {
    let (w, x) = ([0.5, -1.0, 0.25, 2.0], [1.5, 2.0, -0.5, 0.1]);
    let (value, (dw, dx)) = dot_grad(&w, &x);
    assert_eq!(value, 0.75 - 2.0 - 0.125 + 0.2);
    assert_eq!(dw, x.to_vec());
    assert_eq!(dx, w.to_vec());
    let source = dot_backward_source();
    // A pure accumulation needs no tape.
    assert!(!source.contains("Tape"), "{source}");
}

#[backprop]
fn recurrent(w: &[f64], h0: f64) -> f64 {
    let mut h = h0;
    for i in (0..w.len()).rev() {
        h = (h * w[i] + 0.5).tanh();
    }
    h * h
}

#[test]
fn non_linear_loop_carried_update_is_taped() {
    let w = [0.5, -1.2, 0.8, 1.1];
    let reference = |v: &[Dual64]| {
        let mut h = v[4];
        for i in (0..4).rev() {
            h = (h * v[i] + 0.5).tanh();
        }
        h * h
    };
    let at = [w[0], w[1], w[2], w[3], 0.3];
    assert_gradient_exact(
        "recurrent",
        &at,
        recurrent_grad(&w, 0.3),
        dual_gradient(reference, &at),
        |p| recurrent(&p[..4], p[4]),
        1e-13,
    );
    assert!(recurrent_backward_source().contains("Tape"));
}

/// The naive multiclass SVM loss of the notes, on flat row-major slices:
/// x is N×D, w is D×C, y the labels; with L2 regularisation.
#[backprop(wrt(w))]
fn svm_loss_naive(
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
        for j in 0..c {
            if j == y[i] {
                continue;
            }
            let mut score = 0.0;
            let mut correct = 0.0;
            for k in 0..d {
                score += x[i * d + k] * w[k * c + j];
                correct += x[i * d + k] * w[k * c + y[i]];
            }
            let margin = score - correct + 1.0;
            if margin > 0.0 {
                loss += margin;
            }
        }
    }
    loss /= n as f64;
    let mut l2 = 0.0;
    for k in 0..d * c {
        l2 += w[k] * w[k];
    }
    loss + reg * l2
}

fn lcg(seed: u64, len: usize) -> Vec<f64> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn naive_svm_loss() {
    let (n, d, c) = (5, 4, 3);
    let (w, x) = (lcg(1, d * c), lcg(2, n * d));
    let y: Vec<usize> = (0..n).map(|i| (i * 2 + 1) % c).collect();
    let reference = |v: &[Dual64]| {
        let mut loss = c_(0.0);
        for i in 0..n {
            for j in 0..c {
                if j == y[i] {
                    continue;
                }
                let (mut score, mut correct) = (c_(0.0), c_(0.0));
                for k in 0..d {
                    score += v[k * c + j] * x[i * d + k];
                    correct += v[k * c + y[i]] * x[i * d + k];
                }
                let margin = score - correct + 1.0;
                if margin.re > 0.0 {
                    loss += margin;
                }
            }
        }
        loss = loss / n as f64;
        let mut l2 = c_(0.0);
        for k in 0..d * c {
            l2 += v[k] * v[k];
        }
        loss + l2 * 0.1
    };
    assert_gradient_exact(
        "svm_loss_naive",
        &w,
        svm_loss_naive_grad(&w, &x, &y, n, d, c, 0.1),
        dual_gradient(reference, &w),
        |p| svm_loss_naive(p, &x, &y, n, d, c, 0.1),
        1e-12,
    );
}

fn c_(v: f64) -> Dual64 {
    c(v)
}

#[backprop]
fn sum_of_squares(w: [f64; 3]) -> f64 {
    let mut total = 0.0;
    for i in 0..3 {
        total += w[i] * w[i];
    }
    total
}

#[backprop]
fn branchy_recurrence(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    let mut m: f64 = -1.0e9;
    for i in 0..w.len() {
        s = if s > 0.0 { s * w[i] } else { s + w[i] * w[i] };
        m = m.max(s * 0.5);
        if w[i] < 0.0 {
            s -= m.sin();
        }
    }
    s + m
}

#[test]
fn branches_and_max_inside_loops() {
    let (value, dw) = sum_of_squares_grad([1.0, 2.0, 3.0]);
    assert_eq!((value, dw), (14.0, [2.0, 4.0, 6.0]));
    let w = [0.5, -1.2, 0.8, 1.1, -0.3];
    let reference = |v: &[Dual64]| {
        let mut s = v[5];
        let mut m = c(-1.0e9);
        for i in 0..5 {
            s = if s.re > 0.0 {
                s * v[i]
            } else {
                s + v[i] * v[i]
            };
            let half = s * 0.5;
            m = if m.re >= half.re { m } else { half };
            if v[i].re < 0.0 {
                s -= m.sin();
            }
        }
        s + m
    };
    for x in [0.7, -0.4] {
        let at = [w[0], w[1], w[2], w[3], w[4], x];
        assert_gradient_exact(
            "branchy_recurrence",
            &at,
            branchy_recurrence_grad(&w, x),
            dual_gradient(reference, &at),
            |p| branchy_recurrence(&p[..5], p[5]),
            1e-12,
        );
    }
}

/// The naive softmax loss of the notes: for every sample, the scores, their max (for
/// stability), the log of the sum of exponentials, minus the correct class's score.
#[backprop(wrt(w))]
fn softmax_loss_naive(w: &[f64], x: &[f64], y: &[usize], n: usize, d: usize, c: usize) -> f64 {
    let mut loss = 0.0;
    for i in 0..n {
        let mut max: f64 = -1.0e300;
        for j in 0..c {
            let mut score = 0.0;
            for k in 0..d {
                score += x[i * d + k] * w[k * c + j];
            }
            max = max.max(score);
        }
        let mut total = 0.0;
        let mut correct = 0.0;
        for j in 0..c {
            let mut score = 0.0;
            for k in 0..d {
                score += x[i * d + k] * w[k * c + j];
            }
            total += (score - max).exp();
            if j == y[i] {
                correct = score - max;
            }
        }
        loss += total.ln() - correct;
    }
    loss / n as f64
}

#[test]
fn naive_softmax_loss() {
    let (n, d, c) = (4, 3, 5);
    let (w, x) = (lcg(3, d * c), lcg(4, n * d));
    let y: Vec<usize> = (0..n).map(|i| (i * 3 + 2) % c).collect();
    let reference = |v: &[Dual64]| {
        let mut loss = c_(0.0);
        for i in 0..n {
            let scores: Vec<Dual64> = (0..c)
                .map(|j| (0..d).fold(c_(0.0), |s, k| s + v[k * c + j] * x[i * d + k]))
                .collect();
            let max = scores
                .iter()
                .fold(c_(-1.0e300), |m, s| if m.re >= s.re { m } else { *s });
            let total = scores.iter().fold(c_(0.0), |t, s| t + (*s - max).exp());
            loss += total.ln() - (scores[y[i]] - max);
        }
        loss / n as f64
    };
    assert_gradient_exact(
        "softmax_loss_naive",
        &w,
        softmax_loss_naive_grad(&w, &x, &y, n, d, c),
        dual_gradient(reference, &w),
        |p| softmax_loss_naive(p, &x, &y, n, d, c),
        1e-12,
    );
}

#[backprop]
fn loop_in_f32(w: &[f32]) -> f32 {
    let mut h = 0.5f32;
    for i in 0..w.len() {
        h = (h * w[i]).sin() + h;
    }
    h
}

#[test]
fn f32_loops_stay_in_f32() {
    let w = [0.5f32, -1.2, 0.8];
    let (_, dw): (f32, Vec<f32>) = loop_in_f32_grad(&w);
    let numeric = backprop::numeric_gradient(|p: &[f32]| loop_in_f32(p), &w);
    for (a, b) in dw.iter().zip(&numeric) {
        assert!((a - b).abs() < 1e-2, "{dw:?} vs {numeric:?}");
    }
}

#[backprop]
fn halvings(x: f64, w: f64) -> f64 {
    let mut y = x;
    let mut k = 0;
    while y > 1.0 {
        y = (y * 0.5).sin() * 2.0 + w * 0.01;
        k += 1;
    }
    y * (k as f64 + 1.0)
}

#[test]
fn while_loops_with_a_data_dependent_trip_count() {
    let reference = |v: &[Dual64]| {
        let (mut y, mut k) = (v[0], 0);
        while y.re > 1.0 {
            y = (y * 0.5).sin() * 2.0 + v[1] * 0.01;
            k += 1;
        }
        y * (k as f64 + 1.0)
    };
    for at in [[7.5, 0.3], [1.5, -2.0], [0.5, 1.0], [40.0, 0.7]] {
        assert_gradient_exact(
            "halvings",
            &at,
            halvings_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| halvings(p[0], p[1]),
            1e-12,
        );
    }
    let source = halvings_backward_source();
    assert!(source.contains("trips"), "{source}");
}

#[backprop]
fn until_large(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    let mut count = 0.0;
    for i in 0..w.len() {
        s = (s * w[i]).sin() + s;
        if s > 1.5 {
            break;
        }
        count += s * 0.1;
    }
    s + count
}

#[backprop]
fn while_with_break(x: f64, w: f64) -> f64 {
    let mut y = x;
    let mut k = 0;
    while k < 20 {
        if y < 0.5 {
            break;
        }
        y = (y * w).tanh() + y * 0.5;
        k += 1;
    }
    y * y
}

#[test]
fn break_guards_end_loops_early() {
    let w = [0.9, 1.3, 0.7, 1.1, 0.8, 1.2];
    let reference = |v: &[Dual64]| {
        let mut s = v[6];
        let mut count = c(0.0);
        for i in 0..6 {
            s = (s * v[i]).sin() + s;
            if s.re > 1.5 {
                break;
            }
            count += s * 0.1;
        }
        s + count
    };
    for x in [0.2, 0.6, -3.0] {
        let at = [w[0], w[1], w[2], w[3], w[4], w[5], x];
        assert_gradient_exact(
            "until_large",
            &at,
            until_large_grad(&w, x),
            dual_gradient(reference, &at),
            |p| until_large(&p[..6], p[6]),
            1e-12,
        );
    }
    let reference = |v: &[Dual64]| {
        let (mut y, mut k) = (v[0], 0);
        while k < 20 {
            if y.re < 0.5 {
                break;
            }
            y = (y * v[1]).tanh() + y * 0.5;
            k += 1;
        }
        y * y
    };
    for at in [[3.0, 0.4], [0.3, 1.0], [40.0, -0.2]] {
        assert_gradient_exact(
            "while_with_break",
            &at,
            while_with_break_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| while_with_break(p[0], p[1]),
            1e-12,
        );
    }
}

/// Indices computed from a slice's length: the length does not depend on the values.
#[backprop]
fn ends(x: &[f64]) -> f64 {
    let middle = x[x.len() / 2];
    x[x.len() - 1] * 2.0 + x[0] * middle.sin()
}

#[test]
fn indices_from_the_length() {
    let at = [0.5, -1.2, 0.8, 2.0];
    let reference = |v: &[Dual64]| v[3] * 2.0 + v[0] * v[2].sin();
    assert_gradient_exact(
        "ends",
        &at,
        ends_grad(&at),
        dual_gradient(reference, &at),
        ends,
        1e-13,
    );
}

/// A `break` guard with lines before the `break`: they run in the breaking iteration only, and
/// the condition reads the values from before them.
#[backprop]
fn first_large(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    let mut extra = 0.0;
    for i in 0..w.len() {
        s += w[i] * s.sin();
        if s > 1.0 {
            let boost = s * w[i];
            s *= 2.0;
            extra = boost.tanh();
            break;
        }
    }
    s + extra
}

#[backprop]
fn settle_f32(x: f32, r: f32) -> f32 {
    let mut y = x;
    let mut k = 0;
    while k < 10 {
        y = y * r + 0.2;
        k += 1;
        if y < 0.5 {
            y = y * y;
            break;
        }
    }
    y
}

#[backprop]
fn grow(x: f64, rate: f64) -> f64 {
    let mut y = x;
    loop {
        y = y * rate + 0.1;
        if y > 4.0 {
            y -= 4.0 * rate;
            break;
        }
    }
    y
}

#[test]
fn break_guards_with_lines_before_the_break() {
    let w = [0.5, 0.9, 1.3, 0.7];
    let reference = |v: &[Dual64]| {
        let (mut s, mut extra) = (v[4], c(0.0));
        for i in 0..4 {
            s += v[i] * s.sin();
            if s.re > 1.0 {
                let boost = s * v[i];
                s *= 2.0;
                extra = boost.tanh();
                break;
            }
        }
        s + extra
    };
    // Breaks at the first, a later, or no iteration.
    for x in [1.2, 0.1, -2.0] {
        let at = [w[0], w[1], w[2], w[3], x];
        assert_gradient_exact(
            "first_large",
            &at,
            first_large_grad(&w, x),
            dual_gradient(reference, &at),
            |p| first_large(&p[..4], p[4]),
            1e-12,
        );
    }
    let reference = |v: &[num_dual::Dual32]| {
        let (mut y, mut k) = (v[0], 0);
        while k < 10 {
            y = y * v[1] + 0.2;
            k += 1;
            if y.re < 0.5 {
                y = y * y;
                break;
            }
        }
        y
    };
    for at in [[1.0f32, 0.25], [4.0, 0.2], [3.0, 1.1]] {
        assert_gradient_exact(
            "settle_f32",
            &at,
            settle_f32_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| settle_f32(p[0], p[1]),
            1e-4,
        );
    }
    let reference = |v: &[Dual64]| {
        let mut y = v[0];
        loop {
            y = y * v[1] + 0.1;
            if y.re > 4.0 {
                y -= v[1] * 4.0;
                break;
            }
        }
        y
    };
    for at in [[0.5, 1.5], [5.0, 2.0], [1.0, 3.3]] {
        assert_gradient_exact(
            "grow",
            &at,
            grow_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| grow(p[0], p[1]),
            1e-12,
        );
    }
}

/// A `break` guard after a `continue` guard: skip the negative weights, stop at a budget.
#[backprop]
fn skip_then_stop(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    let mut spent = 0.0;
    for i in 0..w.len() {
        if w[i] < 0.0 {
            continue;
        }
        let step = w[i] * s.sin();
        if spent + step > 1.0 {
            s *= 1.5;
            break;
        }
        spent += step;
        s += step;
    }
    s + spent * 0.5
}

#[backprop]
fn skip_then_stop_f32(x: f32, r: f32) -> f32 {
    let mut y = x;
    let mut k = 0;
    while k < 8 {
        k += 1;
        if k % 3 == 0 {
            continue;
        }
        y = y * r + 0.1;
        if y > 2.0 {
            break;
        }
    }
    y
}

#[test]
fn break_guards_after_continue_guards() {
    let w = [0.4, -1.0, 0.7, 0.9, -0.2, 0.6];
    let reference = |v: &[Dual64]| {
        let (mut s, mut spent) = (v[6], c(0.0));
        for i in 0..6 {
            if v[i].re < 0.0 {
                continue;
            }
            let step = v[i] * s.sin();
            if (spent + step).re > 1.0 {
                s *= 1.5;
                break;
            }
            spent += step;
            s += step;
        }
        s + spent * 0.5
    };
    // Stops early, late, or runs to the end.
    for x in [1.4, 0.3, -0.05] {
        let mut at = w.to_vec();
        at.push(x);
        assert_gradient_exact(
            "skip_then_stop",
            &at,
            skip_then_stop_grad(&w, x),
            dual_gradient(reference, &at),
            |p| skip_then_stop(&p[..6], p[6]),
            1e-12,
        );
    }
    let reference = |v: &[num_dual::Dual32]| {
        let (mut y, mut k) = (v[0], 0);
        while k < 8 {
            k += 1;
            if k % 3 == 0 {
                continue;
            }
            y = y * v[1] + 0.1;
            if y.re > 2.0 {
                break;
            }
        }
        y
    };
    for at in [[1.5f32, 1.2], [0.5, 0.8], [1.0, 1.6]] {
        assert_gradient_exact(
            "skip_then_stop_f32",
            &at,
            skip_then_stop_f32_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| skip_then_stop_f32(p[0], p[1]),
            1e-4,
        );
    }
}

/// `return` from inside a loop: the guard keeps the value and ends the loop, and the rest of
/// the function runs only when the loop ended otherwise.
#[backprop]
fn first_large_return(w: &[f64], x: f64) -> f64 {
    let mut s = x;
    for i in 0..w.len() {
        s = s * 0.5 + w[i];
        if s > 1.0 {
            let bonus = s * w[i];
            return bonus.tanh() + s;
        }
    }
    s * s
}

#[backprop]
fn settle_or_give_up_f32(x: f32, r: f32) -> f32 {
    if x < 0.0 {
        return -x * r;
    }
    let mut y = x;
    let mut k = 0;
    while k < 6 {
        y = (y * r).sin() + 0.3;
        k += 1;
        if y < 0.5 {
            return y * y;
        }
    }
    y + r
}

#[backprop]
fn shrink_return(x: f64, rate: f64) -> f64 {
    let mut y = x;
    loop {
        y = y * rate;
        if y < 1.0 {
            return y.exp();
        }
    }
}

/// `return` from a loop inside a loop: each loop on the way out breaks.
#[backprop]
fn first_large_entry(w: &[f64], n: usize, x: f64) -> f64 {
    let mut s = x;
    let mut k = 0;
    while k < n {
        s = s * 0.9;
        for j in 0..n {
            s += w[k * n + j] * s.sin();
            if s > 2.0 {
                return s * w[k * n + j];
            }
        }
        s = s.tanh() + 0.5;
        k += 1;
    }
    s
}

#[test]
fn return_from_a_nested_loop() {
    let reference = |v: &[Dual64]| {
        let mut s = v[4];
        let mut k = 0;
        while k < 2 {
            s = s * 0.9;
            for j in 0..2 {
                s += v[k * 2 + j] * s.sin();
                if s.re > 2.0 {
                    return s * v[k * 2 + j];
                }
            }
            s = s.tanh() + 0.5;
            k += 1;
        }
        s
    };
    // Returns in the first row, in the second, or not at all.
    for at in [
        [0.9, 1.2, 0.3, 0.4, 1.5],
        [0.2, 0.1, 1.6, 1.9, 0.8],
        [0.1, -0.2, 0.3, 0.1, 0.5],
    ] {
        assert_gradient_exact(
            "first_large_entry",
            &at,
            first_large_entry_grad(&at[..4], 2, at[4]),
            dual_gradient(reference, &at),
            |p| first_large_entry(&p[..4], 2, p[4]),
            1e-12,
        );
    }
}

#[test]
fn return_from_inside_a_loop() {
    let w = [0.3, 0.9, 0.8, 0.2];
    let reference = |v: &[Dual64]| {
        let mut s = v[4];
        for i in 0..4 {
            s = s * 0.5 + v[i];
            if s.re > 1.0 {
                let bonus = s * v[i];
                return bonus.tanh() + s;
            }
        }
        s * s
    };
    // Returns at the second or third iteration, or runs to the end.
    for x in [0.2, 1.5, -3.0] {
        let at = [w[0], w[1], w[2], w[3], x];
        assert_gradient_exact(
            "first_large_return",
            &at,
            first_large_return_grad(&w, x),
            dual_gradient(reference, &at),
            |p| first_large_return(&p[..4], p[4]),
            1e-12,
        );
    }
    let reference = |v: &[num_dual::Dual32]| {
        if v[0].re < 0.0 {
            return -v[0] * v[1];
        }
        let (mut y, mut k) = (v[0], 0);
        while k < 6 {
            y = (y * v[1]).sin() + 0.3;
            k += 1;
            if y.re < 0.5 {
                return y * y;
            }
        }
        y + v[1]
    };
    for at in [[-1.0f32, 0.7], [2.0, -0.4], [1.0, 1.3]] {
        assert_gradient_exact(
            "settle_or_give_up_f32",
            &at,
            settle_or_give_up_f32_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| settle_or_give_up_f32(p[0], p[1]),
            1e-4,
        );
    }
    let reference = |v: &[Dual64]| {
        let mut y = v[0];
        loop {
            y = y * v[1];
            if y.re < 1.0 {
                return y.exp();
            }
        }
    };
    for at in [[10.0, 0.5], [0.5, 0.9], [7.0, 0.3]] {
        assert_gradient_exact(
            "shrink_return",
            &at,
            shrink_return_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| shrink_return(p[0], p[1]),
            1e-12,
        );
    }
}

/// `loop` with its exit as a `break` guard: halve until small.
#[backprop]
fn halve_until_small(x: f64) -> f64 {
    let mut y = x;
    loop {
        if y < 1.0 {
            break;
        }
        y = y / 2.0;
    }
    y * y
}

#[backprop]
fn decay_f32(x: f32, r: f32) -> f32 {
    let mut y = x;
    let mut k = 0;
    loop {
        y = y * r + 0.1;
        k += 1;
        if k >= 3 || y < 0.5 {
            break;
        }
    }
    y
}

#[test]
fn loop_with_a_break_guard() {
    // 10 → 5 → 2.5 → 1.25 → 0.625: y = x / 16, f = y², df/dx = 2 y / 16.
    let (value, dx) = halve_until_small_grad(10.0);
    assert_eq!(value, 0.625 * 0.625);
    assert_eq!(dx, 2.0 * 0.625 / 16.0);
    // Already small: no halving, f = x².
    assert_eq!(halve_until_small_grad(0.5), (0.25, 1.0));

    let reference = |v: &[num_dual::Dual32]| {
        let mut y = v[0];
        let mut k = 0;
        loop {
            y = y * v[1] + 0.1;
            k += 1;
            if k >= 3 || y.re < 0.5 {
                break;
            }
        }
        y
    };
    for at in [[2.0f32, 0.9], [0.4, 0.5], [3.0, 0.3]] {
        assert_gradient_exact(
            "decay_f32",
            &at,
            decay_f32_grad(at[0], at[1]),
            dual_gradient(reference, &at),
            |p| decay_f32(p[0], p[1]),
            1e-5,
        );
    }
}

/// Loops over an array's elements, as Rust is written: `for v in w` (of a slice), `w.iter()`,
/// `.iter().enumerate()` with `&v`; and a constant computed by an iterator chain.
#[backprop(wrt(w, a))]
fn weighted_norm(w: &[f64], a: f64, xs: &[f64]) -> f64 {
    let scale = xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64;
    let mut s = 0.0;
    for v in w {
        s += v * v;
    }
    for (i, &v) in w.iter().enumerate() {
        s += a * v * xs[i];
    }
    let mut p = 1.0;
    for v in w.iter() {
        p *= (v * a).sin();
    }
    scale * s + p
}

#[test]
fn loops_over_elements() {
    let w = [0.5, -1.2, 0.8];
    let xs = [1.0, 2.0, -0.5];
    let a = 0.7;
    let f = |q: &[Dual64]| {
        let (w, a) = (&q[..3], q[3]);
        let scale = xs.iter().map(|x| x * x).sum::<f64>() / 3.0;
        let mut s = Dual64::from_re(0.0);
        let mut p = Dual64::from_re(1.0);
        for i in 0..3 {
            s += w[i] * w[i] + a * w[i] * xs[i];
            p *= (w[i] * a).sin();
        }
        s * scale + p
    };
    let at = [w[0], w[1], w[2], a];
    assert_gradient_exact(
        "weighted_norm",
        &at,
        weighted_norm_grad(&w, a, &xs),
        dual_gradient(f, &at),
        |q| weighted_norm(&q[..3], q[3], &xs),
        1e-13,
    );
}

// ---------------------------------------------------------------------------------------------
// Exits anywhere in the body (`lower/exits.rs`): GradBench's saddle point's inner ascent, a
// gradient step with two stopping rules and a step size that grows and shrinks, written as
// GradBench's README describes it.

#[backprop(wrt(x))]
fn descent(x: f64, start: f64) -> f64 {
    let mut y = start;
    let mut fy = (y - x) * (y - x) + 0.1 * y.powi(4);
    let mut g = 2.0 * (y - x) + 0.4 * y.powi(3);
    let mut i = 0;
    let mut eta = 0.01;
    loop {
        if g.abs() <= 1e-9 {
            break;
        } else if i == 10 {
            eta *= 2.0;
            i = 0;
        } else {
            let z = y - eta * g;
            if (y - z).abs() <= 1e-12 {
                break;
            }
            let fz = (z - x) * (z - x) + 0.1 * z.powi(4);
            if fz < fy {
                y = z;
                fy = fz;
                g = 2.0 * (y - x) + 0.4 * y.powi(3);
                i += 1;
            } else {
                eta /= 2.0;
                i = 0;
            }
        }
    }
    fy
}

fn descent_reference(p: &[Dual64], start: f64) -> Dual64 {
    let x = p[0];
    let mut y = c(start);
    let f = |y: Dual64| (y - x) * (y - x) + y.powi(4) * 0.1;
    let grad = |y: Dual64| (y - x) * 2.0 + y.powi(3) * 0.4;
    let (mut fy, mut g, mut i, mut eta) = (f(y), grad(y), 0, 0.01);
    loop {
        if g.re.abs() <= 1e-9 {
            break;
        } else if i == 10 {
            eta *= 2.0;
            i = 0;
        } else {
            let z = y - g * eta;
            if (y - z).re.abs() <= 1e-12 {
                break;
            }
            let fz = f(z);
            if fz.re < fy.re {
                (y, fy, g) = (z, fz, grad(z));
                i += 1;
            } else {
                eta /= 2.0;
                i = 0;
            }
        }
    }
    fy
}

#[test]
fn breaks_in_the_arms_of_an_if_chain() {
    for (x, start) in [(1.5, 0.0), (-0.7, 2.0)] {
        let (value, d_x) = descent_grad(x, start);
        let (ref_value, ref_gradient) = dual_gradient(|p| descent_reference(p, start), &[x]);
        assert!((value - ref_value).abs() < 1e-14, "{value} vs {ref_value}");
        assert!(
            (d_x - ref_gradient[0]).abs() < 1e-10,
            "{d_x} vs {ref_gradient:?}"
        );
        // The minimum's value moves smoothly with x (the path's discrete choices do not
        // change under a small step): central differences agree loosely.
        let h = 1e-6;
        let numeric = (descent(x + h, start) - descent(x - h, start)) / (2.0 * h);
        assert!((d_x - numeric).abs() < 1e-4, "{d_x} vs {numeric}");
    }
}

/// `yⱼ = zⱼ Σᵢ Wᵢⱼ xᵢ` with `W` row-major `m × n`, written column by column as C code walks
/// it, then a triangle (an inner loop of `n − j − 1` trips, none at the last `j`). The reverse
/// of each inner loop adds to one element at the outer loop's index in every iteration (`d_z[j]`,
/// `d_z[j]` again): it sums it in a local across the inner loop, as hand-written code does.
#[backprop]
fn columns_and_triangle(w: &[f64], x: &[f64], z: &[f64], m: usize, n: usize) -> f64 {
    let mut y = vec![0.0; n];
    for j in 0..n {
        for i in 0..m {
            y[j] += w[i * n + j] * x[i] * z[j];
        }
    }
    let mut t = 0.0;
    for j in 0..n {
        for r in j + 1..n {
            t += (y[r] * z[j]).sin();
        }
    }
    let mut s = 0.0;
    for v in &y {
        s += v * v;
    }
    s + t
}

#[backprop]
fn columns_f32(w: &[f32], x: &[f32], z: &[f32], m: usize, n: usize) -> f32 {
    let mut y = vec![0.0; n];
    for j in 0..n {
        for i in 0..m {
            y[j] += w[i * n + j] * x[i] * z[j];
        }
    }
    let mut s = 0.0;
    for v in &y {
        s += v * v;
    }
    s
}

#[test]
fn an_element_accumulated_across_an_inner_loop_is_summed_in_a_local() {
    let (m, n) = (3, 4);
    let w: Vec<f64> = (0..m * n)
        .map(|k| ((k * 7 % 11) as f64 - 5.0) / 6.0)
        .collect();
    let x = [0.7, -0.4, 1.1];
    let z = [0.9, -1.3, 0.2, 0.6];
    let reference = |v: &[Dual64]| {
        let (w, rest) = v.split_at(m * n);
        let (x, z) = rest.split_at(m);
        let mut y = vec![c(0.0); n];
        for j in 0..n {
            for i in 0..m {
                y[j] += w[i * n + j] * x[i] * z[j];
            }
        }
        let mut t = c(0.0);
        for j in 0..n {
            for r in j + 1..n {
                t += (y[r] * z[j]).sin();
            }
        }
        y.iter().map(|v| *v * *v).sum::<Dual64>() + t
    };
    let at: Vec<f64> = w.iter().chain(&x).chain(&z).copied().collect();
    let (value, (dw, dx, dz)) = columns_and_triangle_grad(&w, &x, &z, m, n);
    assert_gradient_exact(
        "columns_and_triangle",
        &at,
        (value, [dw, dx, dz].concat()),
        dual_gradient(reference, &at),
        |p| columns_and_triangle(&p[..m * n], &p[m * n..m * n + m], &p[m * n + m..], m, n),
        1e-13,
    );
    let source = columns_and_triangle_backward_source();
    // The triangle's reverse runs inside its forward loop; the columns' is a loop of its own.
    assert!(source.contains("let mut d_z_j = d_z[j];"), "{source}");
    assert!(source.contains("d_z_j += y_mul * d_y_mul_1;"), "{source}");
    assert!(source.contains("d_z[j] = d_z_j;"), "{source}");

    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let (w32, x32, z32) = (f32s(&w), f32s(&x), f32s(&z));
    let (_, (dw32, dx32, dz32)) = columns_f32_grad(&w32, &x32, &z32, m, n);
    let reference32 = |v: &[num_dual::Dual32]| {
        let (w, rest) = v.split_at(m * n);
        let (x, z) = rest.split_at(m);
        let mut s = num_dual::Dual32::from(0.0);
        for j in 0..n {
            let mut y = num_dual::Dual32::from(0.0);
            for i in 0..m {
                y += w[i * n + j] * x[i] * z[j];
            }
            s += y * y;
        }
        s
    };
    let at32 = f32s(&at);
    let (_, exact) = dual_gradient(reference32, &at32);
    for (a, b) in dw32.iter().chain(&dx32).chain(&dz32).zip(&exact) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
}

/// A carried variable that only constants update (`power *= t`, cmpad's least squares): it has
/// no gradient, so its reverse writes no `d_power` lines; `r`, which the iterations compute
/// from `x`, has one.
#[backprop(wrt(x))]
fn least_squares(x: &[f64], n: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        let t = -1.0 + i as f64 * 2.0 / (n as f64 - 1.0);
        let mut r = if t > 0.0 { 1.0 } else { -1.0 };
        let mut power = 1.0;
        for &xj in x {
            r -= xj * power;
            power *= t;
        }
        sum += r * r;
    }
    sum / 2.0
}

#[test]
fn a_carried_variable_of_constants_has_no_gradient() {
    let x = [0.3, -0.8, 0.5, 0.1];
    let n = 7;
    let reference = |v: &[Dual64]| {
        let mut sum = c(0.0);
        for i in 0..n {
            let t = -1.0 + i as f64 * 2.0 / (n as f64 - 1.0);
            let mut r = c(if t > 0.0 { 1.0 } else { -1.0 });
            let mut power = 1.0;
            for xj in v {
                r -= *xj * power;
                power *= t;
            }
            sum += r * r;
        }
        sum / 2.0
    };
    assert_gradient_exact(
        "least_squares",
        &x,
        least_squares_grad(&x, n),
        dual_gradient(reference, &x),
        |p| least_squares(p, n),
        1e-14,
    );
    let source = least_squares_backward_source();
    assert!(!source.contains("d_power"), "{source}");
    assert!(source.contains("d_r"), "{source}");
}

/// A polynomial least-squares fit written the way numpy-minded code writes it (cmpad's and
/// GradBench's `llsq`): the residual at each point by a loop that carries the power `tʲ`. The
/// reverse of that loop reads every power; the gradient of its accumulator comes from the
/// loop's result (`r * r`), so the reverse cannot run inside it: it runs after it, forwards,
/// stepping the power again, as the hand-written gradient does. No tape.
#[backprop(wrt(coef))]
fn polynomial_fit(coef: &[f64], ts: &[f64], ys: &[f64]) -> f64 {
    let mut sum = 0.0;
    for i in 0..ts.len() {
        let t = ts[i];
        let mut r = ys[i];
        let mut power = 1.0;
        for &cj in coef {
            r -= cj * power;
            power *= t;
        }
        sum += r * r;
    }
    sum / 2.0
}

#[backprop(wrt(coef))]
fn polynomial_fit_f32(coef: &[f32], ts: &[f32], ys: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for i in 0..ts.len() {
        let t = ts[i];
        let mut r = ys[i];
        let mut power = 1.0f32;
        for &cj in coef {
            r -= cj * power;
            power *= t;
        }
        sum += r * r;
    }
    sum / 2.0
}

/// A discounted return against a target, over rewards that are parameters: the loop carries
/// the discount (`decay *= gamma`, not differentiated) and a second accumulator; the reverse
/// of the loop over the rewards runs forwards, stepping the discount again.
#[backprop(wrt(rewards))]
fn discounted_error(rewards: &[f64], gamma: f64, target: f64) -> f64 {
    let mut ret = 0.0;
    let mut count = 0.0;
    let mut decay = 1.0;
    for t in 0..rewards.len() {
        ret += decay * rewards[t];
        count += rewards[t] * rewards[t] * 0.01;
        decay *= gamma;
    }
    let err = ret - target;
    err * err + count.sqrt()
}

fn polynomial_reference(coef: &[Dual64], ts: &[f64], ys: &[f64]) -> Dual64 {
    let mut sum = c_(0.0);
    for i in 0..ts.len() {
        let mut r = c_(ys[i]);
        let mut power = 1.0;
        for &cj in coef {
            r -= cj * power;
            power *= ts[i];
        }
        sum += r * r;
    }
    sum / 2.0
}

#[test]
fn accumulating_loops_fed_by_their_result_run_again_forwards() {
    let (m, n) = (6, 9);
    let coef: Vec<f64> = lcg(3, m).iter().map(|v| v * 0.5).collect();
    let ts: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = lcg(4, n);
    assert_gradient_exact(
        "polynomial_fit",
        &coef,
        polynomial_fit_grad(&coef, &ts, &ys),
        dual_gradient(|v: &[Dual64]| polynomial_reference(v, &ts, &ys), &coef),
        |p| polynomial_fit(p, &ts, &ys),
        1e-12,
    );
    let source = polynomial_fit_backward_source();
    check_snapshot("polynomial_fit", source);
    assert!(!source.contains("Tape"), "{source}");
    // The power is stepped again beside the gradient's accumulation, forwards.
    assert!(source.contains("power_1 = power_2;"), "{source}");
    assert_eq!(source.matches(".rev()").count(), 0, "{source}");

    // f32: the same program in f32, against the f64 dual reference.
    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (coef32, ts32, ys32) = (to32(&coef), to32(&ts), to32(&ys));
    let (value, grad) = polynomial_fit_f32_grad(&coef32, &ts32, &ys32);
    let (ref_value, ref_grad) =
        dual_gradient(|v: &[Dual64]| polynomial_reference(v, &ts, &ys), &coef);
    assert!((value as f64 - ref_value).abs() < 1e-4 * ref_value.abs().max(1.0));
    for (g, r) in grad.iter().zip(&ref_grad) {
        assert!(
            (*g as f64 - r).abs() < 1e-4 * r.abs().max(1.0),
            "{grad:?} vs {ref_grad:?}"
        );
    }

    let rewards = lcg(5, 7);
    let (gamma, target) = (0.9, 0.3);
    let reference = |v: &[Dual64]| {
        let (mut ret, mut count, mut decay) = (c_(0.0), c_(0.0), 1.0);
        for r in v {
            ret += *r * decay;
            count += *r * *r * 0.01;
            decay *= gamma;
        }
        let err = ret - target;
        err * err + count.sqrt()
    };
    assert_gradient_exact(
        "discounted_error",
        &rewards,
        discounted_error_grad(&rewards, gamma, target),
        dual_gradient(reference, &rewards),
        |p| discounted_error(p, gamma, target),
        1e-12,
    );
    let source = discounted_error_backward_source();
    assert!(!source.contains("Tape"), "{source}");
    assert!(source.contains("decay_1 = decay_2;"), "{source}");
}

/// The polynomial fit with a robust (Cauchy) loss, its forward mode and second order: `jvp` and `hvp` go through the
/// loop whose reverse runs again forwards (`hvp` differentiates that reverse).
#[backprop(jvp, hvp, wrt(coef))]
fn polynomial_fit_2(coef: &[f64], ts: &[f64], ys: &[f64]) -> f64 {
    let mut sum = 0.0;
    for i in 0..ts.len() {
        let t = ts[i];
        let mut r = ys[i];
        let mut power = 1.0;
        for &cj in coef {
            r -= cj * power;
            power *= t;
        }
        sum += (1.0 + r * r).ln();
    }
    sum / 2.0
}

#[test]
fn loops_run_again_forwards_under_jvp_and_hvp() {
    use num_dual::HyperDual64;
    let (m, n) = (5, 8);
    let coef: Vec<f64> = lcg(6, m).iter().map(|v| v * 0.5).collect();
    let ts: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = lcg(7, n);
    let v: Vec<f64> = lcg(8, m);
    let reference = |p: &[HyperDual64]| {
        let mut sum = HyperDual64::from(0.0);
        for i in 0..n {
            let mut r = HyperDual64::from(ys[i]);
            let mut power = 1.0;
            for &cj in p {
                r -= cj * power;
                power *= ts[i];
            }
            sum += (r * r + 1.0).ln();
        }
        sum / 2.0
    };
    let (ref_value, ref_grad, ref_hv) = common::hyper(reference, &coef, &v);
    let (value, grad, hv) = polynomial_fit_2_hvp(&coef, &ts, &ys, &v);
    common::close("value", &[value], &[ref_value], 1e-12);
    common::close("gradient", &grad, &ref_grad, 1e-12);
    common::close("H·v", &hv, &ref_hv, 1e-10);
    let numeric = common::central_hv(
        |p: &[f64]| polynomial_fit_2_grad(p, &ts, &ys).1,
        &coef,
        &v,
        1e-5,
    );
    common::close("H·v against central differences", &hv, &numeric, 1e-5);
    let (value, tangent) = polynomial_fit_2_jvp(&coef, &ts, &ys, &v);
    let directional: f64 = ref_grad.iter().zip(&v).map(|(g, v)| g * v).sum();
    common::close("jvp", &[value, tangent], &[ref_value, directional], 1e-12);
    assert!(!polynomial_fit_2_backward_source().contains("Tape"));
}
