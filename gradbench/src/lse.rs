//! `lse`: LogSumExp with the max trick, `max x + ln Σ exp(xᵢ − max x)`, and its gradient.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// LogSumExp of `x`, computed stably: the maximum first, then the sum of the shifted
/// exponentials.
#[backprop]
pub fn logsumexp(x: &[f64]) -> f64 {
    let mut a = x[0];
    for &v in &x[1..] {
        a = a.max(v);
    }
    let mut s = 0.0;
    for &v in x {
        s += (v - a).exp();
    }
    a + s.ln()
}

#[derive(Deserialize)]
struct Input {
    x: Vec<f64>,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { x } = parse(input)?;
    if x.is_empty() {
        return Err("lse of an empty x".to_string());
    }
    match function {
        "primal" => timed(runs, || logsumexp(&x), |y| y),
        "gradient" => timed(runs, || logsumexp_grad(&x), |(_, dx)| dx),
        _ => Err(unknown_function("lse", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn gradient_matches_central_differences() {
        for n in [1, 2, 7, 30] {
            let x: Vec<f64> = draws(n, 11 + n as u64).iter().map(|v| 20.0 * v).collect();
            let (y, dx) = logsumexp_grad(&x);
            let naive = x.iter().map(|v| v.exp()).sum::<f64>().ln();
            assert!((y - naive).abs() < 1e-12 * naive.abs().max(1.0));
            let numeric = backprop::numeric_gradient(logsumexp, &x);
            assert_close(&dx, &numeric, 1e-6);
            // The gradient is the softmax.
            let total: f64 = dx.iter().sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
    }
}
