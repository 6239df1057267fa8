//! `saddle`: min over x ∈ ℝ² of max over y ∈ ℝ² of f(x, y) = (x₁² + x₂²) − (y₁² + y₂²), both
//! by GradBench's gradient descent from the same start s (`src/descent.rs`); then, with that
//! x, the argmax y again, not nested. The answer is x and y concatenated.
//!
//! The inner ascent is the function the outer descent differentiates, so its gradient in y
//! is AD inside differentiated code (nested AD). The eval's README writes the objective
//! (x₁² + y₁²) − (x₂² + y₂²): its x is (x₁, y₁) and its y is (x₂, y₂), as GradBench's C++
//! calls it (`objective(p1[0], p1[1], p2[0], p2[1])`, p1 the argmin's point); read the other
//! way it has no max in y. Here the ascent's path does not depend on x (∂f/∂y = −2y), so the
//! derivative through it is zero and the descent's gradient is 2x: the tests check the
//! nested companions against central differences all the same.
//!
//! The first letter of each function names the mode of the descent's derivative, the second
//! that of the ascent's. The ascent's gradient comes from reverse mode in [`max_r`]
//! (`objective_grad`) and from forward mode in [`max_f`] (two `objective_jvp`, the unit
//! tangents of y₁ and y₂); both carry `#[backprop(wrt(x1, x2), jvp)]`, so each has a gradient
//! and a JVP. `rr`: `max_r_grad` (through `objective_grad_backward`); `rf`: `max_f_grad`
//! (through `objective_jvp_backward`); `ff`: two `max_f_jvp`, the unit tangents of x₁ and x₂
//! (through `objective_jvp_jvp`); `fr`: two `max_r_jvp` (through `objective_grad_jvp`). The
//! ascent on y alone that follows takes its gradient in the inner mode: `objective_grad`
//! (`rr`, `fr`) or `objective_jvp` (`rf`, `ff`).

use backprop::backprop;

/// The function whose saddle point is sought: a bowl in x, a dome in y. (Its companions
/// `objective_hvp`, `_jvp`, `_hvp_tangent` take 8 floats, `objective_jvp_jvp` 16.)
#[allow(clippy::too_many_arguments)]
#[backprop(hvp, jvp)]
pub fn objective(x1: f64, x2: f64, y1: f64, y2: f64) -> f64 {
    (x1 * x1 + x2 * x2) - (y1 * y1 + y2 * y2)
}

/// max over y of f(x, y), by the ascent from (start1, start2) with the gradient in y from
/// reverse mode (`objective_grad`).
#[backprop(wrt(x1, x2), jvp)]
pub fn max_r(x1: f64, x2: f64, start1: f64, start2: f64) -> f64 {
    let mut y1 = start1;
    let mut y2 = start2;
    let mut fy = -objective(x1, x2, y1, y2);
    let (_, (_, _, dy1, dy2)) = objective_grad(x1, x2, y1, y2);
    let mut g1 = -dy1;
    let mut g2 = -dy2;
    let mut i = 0;
    let mut eta = 1e-5;
    loop {
        if (g1 * g1 + g2 * g2).sqrt() <= 1e-5 {
            break;
        } else if i == 10 {
            eta *= 2.0;
            i = 0;
        } else {
            let z1 = y1 - eta * g1;
            let z2 = y2 - eta * g2;
            if ((y1 - z1) * (y1 - z1) + (y2 - z2) * (y2 - z2)).sqrt() <= 1e-5 {
                break;
            }
            let fz = -objective(x1, x2, z1, z2);
            if fz < fy {
                y1 = z1;
                y2 = z2;
                fy = fz;
                let (_, (_, _, dz1, dz2)) = objective_grad(x1, x2, y1, y2);
                g1 = -dz1;
                g2 = -dz2;
                i += 1;
            } else {
                eta /= 2.0;
                i = 0;
            }
        }
    }
    -fy
}

/// max over y of f(x, y) as [`max_r`], with the gradient in y from forward mode: one
/// `objective_jvp` (value and J·t) per unit tangent of y.
#[backprop(wrt(x1, x2), jvp)]
pub fn max_f(x1: f64, x2: f64, start1: f64, start2: f64) -> f64 {
    let mut y1 = start1;
    let mut y2 = start2;
    let mut fy = -objective(x1, x2, y1, y2);
    let (_, dy1) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
    let (_, dy2) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
    let mut g1 = -dy1;
    let mut g2 = -dy2;
    let mut i = 0;
    let mut eta = 1e-5;
    loop {
        if (g1 * g1 + g2 * g2).sqrt() <= 1e-5 {
            break;
        } else if i == 10 {
            eta *= 2.0;
            i = 0;
        } else {
            let z1 = y1 - eta * g1;
            let z2 = y2 - eta * g2;
            if ((y1 - z1) * (y1 - z1) + (y2 - z2) * (y2 - z2)).sqrt() <= 1e-5 {
                break;
            }
            let fz = -objective(x1, x2, z1, z2);
            if fz < fy {
                y1 = z1;
                y2 = z2;
                fy = fz;
                let (_, dz1) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 1.0, 0.0);
                let (_, dz2) = objective_jvp(x1, x2, y1, y2, 0.0, 0.0, 0.0, 1.0);
                g1 = -dz1;
                g2 = -dz2;
                i += 1;
            } else {
                eta /= 2.0;
                i = 0;
            }
        }
    }
    -fy
}

use crate::descent::{argmax, argmin};
use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Input {
    start: [f64; 2],
}

/// rr: the descent on x with `max_r_grad`, then the ascent on y with `objective_grad`.
pub fn rr(s: [f64; 2]) -> [f64; 4] {
    let x = argmin(
        |x| max_r(x[0], x[1], s[0], s[1]),
        |x| {
            let (_, (d1, d2)) = max_r_grad(x[0], x[1], s[0], s[1]);
            vec![d1, d2]
        },
        &s,
    );
    let y = argmax(
        |y| objective(x[0], x[1], y[0], y[1]),
        |y| {
            let (_, (_, _, d1, d2)) = objective_grad(x[0], x[1], y[0], y[1]);
            vec![d1, d2]
        },
        &s,
    );
    [x[0], x[1], y[0], y[1]]
}

/// rf: the descent on x with `max_f_grad`, then the ascent on y with one `objective_jvp` per
/// unit tangent of y.
pub fn rf(s: [f64; 2]) -> [f64; 4] {
    let x = argmin(
        |x| max_f(x[0], x[1], s[0], s[1]),
        |x| {
            let (_, (d1, d2)) = max_f_grad(x[0], x[1], s[0], s[1]);
            vec![d1, d2]
        },
        &s,
    );
    let y = argmax(
        |y| objective(x[0], x[1], y[0], y[1]),
        |y| {
            let (_, d1) = objective_jvp(x[0], x[1], y[0], y[1], 0.0, 0.0, 1.0, 0.0);
            let (_, d2) = objective_jvp(x[0], x[1], y[0], y[1], 0.0, 0.0, 0.0, 1.0);
            vec![d1, d2]
        },
        &s,
    );
    [x[0], x[1], y[0], y[1]]
}

/// ff: the descent on x with two `max_f_jvp` (the unit tangents of x), then the ascent on y
/// with one `objective_jvp` per unit tangent of y.
pub fn ff(s: [f64; 2]) -> [f64; 4] {
    let x = argmin(
        |x| max_f(x[0], x[1], s[0], s[1]),
        |x| {
            let (_, d1) = max_f_jvp(x[0], x[1], s[0], s[1], 1.0, 0.0);
            let (_, d2) = max_f_jvp(x[0], x[1], s[0], s[1], 0.0, 1.0);
            vec![d1, d2]
        },
        &s,
    );
    let y = argmax(
        |y| objective(x[0], x[1], y[0], y[1]),
        |y| {
            let (_, d1) = objective_jvp(x[0], x[1], y[0], y[1], 0.0, 0.0, 1.0, 0.0);
            let (_, d2) = objective_jvp(x[0], x[1], y[0], y[1], 0.0, 0.0, 0.0, 1.0);
            vec![d1, d2]
        },
        &s,
    );
    [x[0], x[1], y[0], y[1]]
}

/// fr: the descent on x with two `max_r_jvp` (the unit tangents of x), then the ascent on y
/// with `objective_grad`.
pub fn fr(s: [f64; 2]) -> [f64; 4] {
    let x = argmin(
        |x| max_r(x[0], x[1], s[0], s[1]),
        |x| {
            let (_, d1) = max_r_jvp(x[0], x[1], s[0], s[1], 1.0, 0.0);
            let (_, d2) = max_r_jvp(x[0], x[1], s[0], s[1], 0.0, 1.0);
            vec![d1, d2]
        },
        &s,
    );
    let y = argmax(
        |y| objective(x[0], x[1], y[0], y[1]),
        |y| {
            let (_, (_, _, d1, d2)) = objective_grad(x[0], x[1], y[0], y[1]);
            vec![d1, d2]
        },
        &s,
    );
    [x[0], x[1], y[0], y[1]]
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { start } = parse(input)?;
    match function {
        "rr" => timed(runs, || rr(start), |r| r),
        "rf" => timed(runs, || rf(start), |r| r),
        "ff" => timed(runs, || ff(start), |r| r),
        "fr" => timed(runs, || fr(start), |r| r),
        _ => Err(unknown_function("saddle", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eval's expected answer (its run.py) for the start (1, 1), in each of the four.
    const EXPECTED: f64 = 8.246324826140356e-06;

    fn starts() -> Vec<[f64; 2]> {
        let d = crate::testing::draws(4, 7);
        vec![
            [1.0, 1.0],
            [0.5, -0.25],
            [d[0] - 0.5, 2.0 * d[1]],
            [d[2], -d[3]],
        ]
    }

    #[test]
    fn max_r_gradient_matches_central_differences() {
        for s in starts() {
            for x in [[1.0, 1.0], [0.3, -0.7]] {
                let (v, (d1, d2)) = max_r_grad(x[0], x[1], s[0], s[1]);
                assert_eq!(v, max_r(x[0], x[1], s[0], s[1]));
                let numeric =
                    backprop::numeric_gradient(|p: &[f64]| max_r(p[0], p[1], s[0], s[1]), &x);
                crate::testing::assert_close(&[d1, d2], &numeric, 1e-5);
            }
        }
    }

    #[test]
    fn max_f_gradient_matches_central_differences_and_max_r() {
        for s in starts() {
            for x in [[1.0, 1.0], [0.3, -0.7]] {
                let (v, (d1, d2)) = max_f_grad(x[0], x[1], s[0], s[1]);
                assert_eq!(v, max_f(x[0], x[1], s[0], s[1]));
                assert_eq!(v, max_r(x[0], x[1], s[0], s[1]));
                let numeric =
                    backprop::numeric_gradient(|p: &[f64]| max_f(p[0], p[1], s[0], s[1]), &x);
                crate::testing::assert_close(&[d1, d2], &numeric, 1e-5);
                let (_, (r1, r2)) = max_r_grad(x[0], x[1], s[0], s[1]);
                crate::testing::assert_close(&[d1, d2], &[r1, r2], 1e-12);
            }
        }
    }

    #[test]
    fn max_r_and_max_f_jvps_match_central_differences_and_the_gradients() {
        for s in starts() {
            for x in [[1.0, 1.0], [0.3, -0.7]] {
                let (_, (g1, g2)) = max_r_grad(x[0], x[1], s[0], s[1]);
                for (f, jvp) in [
                    (max_r as fn(f64, f64, f64, f64) -> f64, max_r_jvp as Jvp),
                    (max_f, max_f_jvp),
                ] {
                    let v = f(x[0], x[1], s[0], s[1]);
                    let (v1, d1) = jvp(x[0], x[1], s[0], s[1], 1.0, 0.0);
                    let (v2, d2) = jvp(x[0], x[1], s[0], s[1], 0.0, 1.0);
                    assert_eq!((v1, v2), (v, v));
                    let numeric =
                        backprop::numeric_gradient(|p: &[f64]| f(p[0], p[1], s[0], s[1]), &x);
                    crate::testing::assert_close(&[d1, d2], &numeric, 1e-5);
                    crate::testing::assert_close(&[d1, d2], &[g1, g2], 1e-12);
                }
            }
        }
    }

    type Jvp = fn(f64, f64, f64, f64, f64, f64) -> (f64, f64);

    #[test]
    fn the_inner_gradients_match_central_differences() {
        let p = [0.4, -0.3, 0.9, 0.2];
        let numeric = backprop::numeric_gradient(|p: &[f64]| objective(p[0], p[1], p[2], p[3]), &p);
        let (_, (a, b, c, d)) = objective_grad(p[0], p[1], p[2], p[3]);
        crate::testing::assert_close(&[a, b, c, d], &numeric, 1e-6);
        let (_, t1) = objective_jvp(p[0], p[1], p[2], p[3], 0.0, 0.0, 1.0, 0.0);
        let (_, t2) = objective_jvp(p[0], p[1], p[2], p[3], 0.0, 0.0, 0.0, 1.0);
        crate::testing::assert_close(&[t1, t2], &numeric[2..], 1e-6);
    }

    #[test]
    fn evaluate_answers_all_four() {
        let input = serde_json::json!({"start": [1.0, 1.0], "min_runs": 2});
        for function in ["rr", "rf", "ff", "fr"] {
            let e = evaluate(function, &input).unwrap();
            assert_eq!(e.timings.len(), 2);
            let out: Vec<f64> = serde_json::from_value(e.output).unwrap();
            assert_eq!(out.len(), 4);
        }
        let error = evaluate("rrr", &input).err().unwrap();
        assert!(error.contains("unknown function"), "{error}");
    }

    #[test]
    fn all_four_find_the_eval_answer() {
        let s = [1.0, 1.0];
        for r in [rr(s), rf(s), ff(s), fr(s)] {
            for v in r {
                // The eval compares to its expected output to a tolerance.
                assert!((v - EXPECTED).abs() < 1e-6, "{r:?}");
            }
        }
    }
}
