//! `particle`: a charged particle shot from (0, 8) with velocity (0.75, 0) through the field
//! of two unit charges at (10, 10 − w) and (10, 0), stepped by Euler's method (the force the
//! negative gradient of the potential: nested AD) until it crosses the x axis; the squared
//! distance from the origin where it lands is minimised over w by gradient descent.
//!
//! The first letter of each function names the mode of the descent's derivative, the second
//! that of the force. The force comes from reverse mode in [`naive_euler_r`]
//! (`potential_grad`) and from forward mode in [`naive_euler_f`] (`potential_jvp` with the
//! unit tangents of the position); both carry `#[backprop(jvp)]`, so each has a gradient and
//! a JVP. `rr`: `naive_euler_r_grad` (through `potential_grad_backward`); `rf`:
//! `naive_euler_f_grad` (through `potential_jvp_backward`); `ff`: `naive_euler_f_jvp`
//! (through `potential_jvp_jvp`); `fr`: `naive_euler_r_jvp` (through `potential_grad_jvp`).
//! One parameter, so each forward-mode derivative is one JVP with the tangent 1.

use backprop::backprop;

/// The potential at (px, py) of unit charges at (ax, ay) and (bx, by).
#[allow(clippy::too_many_arguments)] // its companions take 12 floats, `potential_jvp_jvp` 24
#[backprop(hvp, jvp)]
pub fn potential(ax: f64, ay: f64, bx: f64, by: f64, px: f64, py: f64) -> f64 {
    let da = ((px - ax) * (px - ax) + (py - ay) * (py - ay)).sqrt();
    let db = ((px - bx) * (px - bx) + (py - by) * (py - by)).sqrt();
    1.0 / da + 1.0 / db
}

/// x₀(t_f)², the squared distance from the origin where the particle crosses the x axis
/// (linearly interpolated within the last step). The force from reverse mode,
/// `potential_grad`.
#[backprop(jvp)]
pub fn naive_euler_r(w: f64) -> f64 {
    let (ax, ay, bx, by) = (10.0, 10.0 - w, 10.0, 0.0);
    let mut x = 0.0;
    let mut y = 8.0;
    let mut vx = 0.75;
    let mut vy = 0.0;
    let dt = 0.1;
    loop {
        let (_, (_, _, _, _, gx, gy)) = potential_grad(ax, ay, bx, by, x, y);
        x += dt * vx;
        y += dt * vy;
        if y <= 0.0 {
            let dt_f = -y / vy;
            let x_f = x + dt_f * vx;
            return x_f * x_f;
        }
        vx += dt * -gx;
        vy += dt * -gy;
    }
}

/// [`naive_euler_r`] with the force from forward mode: one `potential_jvp` (value and J·t)
/// per unit tangent of the particle's position.
#[backprop(jvp)]
pub fn naive_euler_f(w: f64) -> f64 {
    let (ax, ay, bx, by) = (10.0, 10.0 - w, 10.0, 0.0);
    let mut x = 0.0;
    let mut y = 8.0;
    let mut vx = 0.75;
    let mut vy = 0.0;
    let dt = 0.1;
    loop {
        let (_, gx) = potential_jvp(ax, ay, bx, by, x, y, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0);
        let (_, gy) = potential_jvp(ax, ay, bx, by, x, y, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0);
        x += dt * vx;
        y += dt * vy;
        if y <= 0.0 {
            let dt_f = -y / vy;
            let x_f = x + dt_f * vx;
            return x_f * x_f;
        }
        vx += dt * -gx;
        vy += dt * -gy;
    }
}

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Input {
    w: f64,
}

/// rr: the descent on w with `naive_euler_r_grad`.
pub fn rr(w0: f64) -> f64 {
    crate::descent::argmin(
        |w| naive_euler_r(w[0]),
        |w| vec![naive_euler_r_grad(w[0]).1],
        &[w0],
    )[0]
}

/// rf: the descent on w with `naive_euler_f_grad` (reverse over forward).
pub fn rf(w0: f64) -> f64 {
    crate::descent::argmin(
        |w| naive_euler_f(w[0]),
        |w| vec![naive_euler_f_grad(w[0]).1],
        &[w0],
    )[0]
}

/// ff: the descent on w with `naive_euler_f_jvp` and the unit tangent (forward over forward).
pub fn ff(w0: f64) -> f64 {
    crate::descent::argmin(
        |w| naive_euler_f(w[0]),
        |w| vec![naive_euler_f_jvp(w[0], 1.0).1],
        &[w0],
    )[0]
}

/// fr: the descent on w with `naive_euler_r_jvp` and the unit tangent (forward over reverse).
pub fn fr(w0: f64) -> f64 {
    crate::descent::argmin(
        |w| naive_euler_r(w[0]),
        |w| vec![naive_euler_r_jvp(w[0], 1.0).1],
        &[w0],
    )[0]
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { w } = parse(input)?;
    match function {
        "rr" => timed(runs, || rr(w), |w| w),
        "rf" => timed(runs, || rf(w), |w| w),
        "ff" => timed(runs, || ff(w), |w| w),
        "fr" => timed(runs, || fr(w), |w| w),
        _ => Err(unknown_function("particle", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_euler_gradient_matches_central_differences() {
        for w in [0.0, 0.3] {
            let (v, d) = naive_euler_r_grad(w);
            assert_eq!(v, naive_euler_r(w));
            let numeric = backprop::numeric_gradient(|p: &[f64]| naive_euler_r(p[0]), &[w]);
            crate::testing::assert_close(&[d], &numeric, 1e-5);
        }
    }

    #[test]
    fn naive_euler_f_gradient_matches_central_differences_and_naive_euler_r() {
        for w in [0.0, 0.3] {
            let (v, d) = naive_euler_f_grad(w);
            assert_eq!(v, naive_euler_f(w));
            assert!((v - naive_euler_r(w)).abs() <= 1e-12 * v.abs().max(1.0));
            let numeric = backprop::numeric_gradient(|p: &[f64]| naive_euler_f(p[0]), &[w]);
            crate::testing::assert_close(&[d], &numeric, 1e-5);
            crate::testing::assert_close(&[d], &[naive_euler_r_grad(w).1], 1e-10);
        }
    }

    #[test]
    fn naive_euler_jvps_match_central_differences_and_the_gradients() {
        for w in [0.0, 0.3] {
            let numeric = backprop::numeric_gradient(|p: &[f64]| naive_euler_r(p[0]), &[w]);
            let (v, d) = naive_euler_r_jvp(w, 1.0);
            assert_eq!(v, naive_euler_r(w));
            crate::testing::assert_close(&[d], &numeric, 1e-5);
            crate::testing::assert_close(&[d], &[naive_euler_r_grad(w).1], 1e-10);
            let (v, d) = naive_euler_f_jvp(w, 1.0);
            assert_eq!(v, naive_euler_f(w));
            crate::testing::assert_close(&[d], &numeric, 1e-5);
            crate::testing::assert_close(&[d], &[naive_euler_f_grad(w).1], 1e-10);
        }
    }

    #[test]
    fn the_force_from_either_mode_matches_central_differences() {
        let p = [10.0, 9.7, 10.0, 0.0, 0.4, 7.5];
        let numeric = backprop::numeric_gradient(
            |p: &[f64]| potential(p[0], p[1], p[2], p[3], p[4], p[5]),
            &p,
        );
        let (_, (_, _, _, _, gx, gy)) = potential_grad(p[0], p[1], p[2], p[3], p[4], p[5]);
        crate::testing::assert_close(&[gx, gy], &numeric[4..], 1e-6);
        let (_, tx) = potential_jvp(
            p[0], p[1], p[2], p[3], p[4], p[5], 0.0, 0.0, 0.0, 0.0, 1.0, 0.0,
        );
        let (_, ty) = potential_jvp(
            p[0], p[1], p[2], p[3], p[4], p[5], 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        );
        crate::testing::assert_close(&[tx, ty], &numeric[4..], 1e-6);
    }

    #[test]
    fn rf_ff_and_fr_land_the_particle_at_the_origin() {
        for (w, f) in [
            (rf(0.0), naive_euler_f as fn(f64) -> f64),
            (ff(0.0), naive_euler_f),
            (fr(0.0), naive_euler_r),
        ] {
            assert!((w - 0.2071918746486116).abs() < 1e-4, "{w}");
            assert!(f(w) < 1e-6);
        }
    }

    #[test]
    fn evaluate_answers_all_four() {
        let input = serde_json::json!({"w": 0.0, "min_runs": 2});
        for function in ["rr", "rf", "ff", "fr"] {
            let e = evaluate(function, &input).unwrap();
            assert_eq!(e.timings.len(), 2);
            let w: f64 = serde_json::from_value(e.output).unwrap();
            assert!((w - 0.2071918746486116).abs() < 1e-4, "{function}: {w}");
        }
    }

    #[test]
    fn rr_lands_the_particle_at_the_origin() {
        let w = rr(0.0);
        // The eval's expected answer (its run.py), to its tolerance.
        assert!((w - 0.2071918746486116).abs() < 1e-4, "{w}");
        assert!(naive_euler_r(w) < 1e-6);
    }
}
