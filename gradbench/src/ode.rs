//! `ode`: cmpad's `an_ode`, the system `y₀' = x₀`, `yᵢ' = xᵢ yᵢ₋₁` from `y(0) = 0` solved on
//! [0, 2] by `s` steps of the classical Runge–Kutta method (the right-hand side of
//! GradBench's reference implementation), and the gradient of the last component of the
//! solution with respect to `x`.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The right-hand side at `y`.
#[backprop]
pub fn ode_fun(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; x.len()];
    z[0] = x[0];
    for i in 1..x.len() {
        z[i] = x[i] * y[i - 1];
    }
    z
}

/// y(2) after `s` Runge–Kutta steps.
#[allow(clippy::needless_range_loop)]
#[backprop(wrt(x))]
pub fn ode(x: &[f64], s: usize) -> Vec<f64> {
    let n = x.len();
    let h = 2.0 / s as f64;
    let mut y = vec![0.0; n];
    let mut y_tmp = vec![0.0; n];
    for _ in 0..s {
        let k1: Vec<f64> = ode_fun(x, &y);
        for i in 0..n {
            y_tmp[i] = y[i] + h * k1[i] / 2.0;
        }
        let k2: Vec<f64> = ode_fun(x, &y_tmp);
        for i in 0..n {
            y_tmp[i] = y[i] + h * k2[i] / 2.0;
        }
        let k3: Vec<f64> = ode_fun(x, &y_tmp);
        for i in 0..n {
            y_tmp[i] = y[i] + h * k3[i];
        }
        let k4: Vec<f64> = ode_fun(x, &y_tmp);
        for i in 0..n {
            y[i] += h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) / 6.0;
        }
    }
    y
}

#[derive(Deserialize)]
struct Input {
    x: Vec<f64>,
    s: usize,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { x, s } = parse(input)?;
    if x.is_empty() || s == 0 {
        return Err("ode needs a non-empty x and s ≥ 1".to_string());
    }
    let n = x.len();
    match function {
        "primal" => timed(runs, || ode(&x, s), |y| y),
        // The gradient of y(2)ₙ₋₁: the vector–Jacobian product with the last unit vector.
        "gradient" => timed(
            runs,
            || {
                let mut last = vec![0.0; n];
                last[n - 1] = 1.0;
                ode_backward(&x, s, last)
            },
            |(_, dx)| dx,
        ),
        _ => Err(unknown_function("ode", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn many_steps_approach_the_exact_solution() {
        // yᵢ(t) = x₀ x₁ ⋯ xᵢ tⁱ⁺¹ / (i + 1)!
        let x = [0.5, 1.5, 0.8];
        let y = ode(&x, 200);
        let exact = [
            0.5 * 2.0,
            0.5 * 1.5 * 4.0 / 2.0,
            0.5 * 1.5 * 0.8 * 8.0 / 6.0,
        ];
        assert_close(&y, &exact, 1e-9);
    }

    #[test]
    fn gradient_of_the_last_component_matches_central_differences() {
        for (n, s) in [(1, 1), (3, 2), (6, 5)] {
            let x: Vec<f64> = draws(n, 40 + n as u64).iter().map(|v| v + 0.5).collect();
            let mut last = vec![0.0; n];
            last[n - 1] = 1.0;
            let (y, dx) = ode_backward(&x, s, last);
            assert_eq!(y, ode(&x, s));
            let numeric = backprop::numeric_gradient(|p: &[f64]| ode(p, s)[n - 1], &x);
            assert_close(&dx, &numeric, 1e-6);
        }
    }
}
