//! `llsq`: the linear least squares objective of cmpad,
//! `y(x) = ½ Σᵢ (sᵢ − Σⱼ xⱼ tᵢʲ)²` with `tᵢ = −1 + 2i/(n − 1)` and `sᵢ = sign(tᵢ)`.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The objective at the coefficients `x`, over `n` points of [-1, 1].
#[backprop(wrt(x))]
pub fn llsq(x: &[f64], n: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..n {
        let t = -1.0 + i as f64 * 2.0 / (n as f64 - 1.0);
        let s = if t > 0.0 {
            1.0
        } else if t < 0.0 {
            -1.0
        } else {
            0.0
        };
        let mut r = s;
        let mut power = 1.0;
        for &xj in x {
            r -= xj * power;
            power *= t;
        }
        sum += r * r;
    }
    sum / 2.0
}

#[derive(Deserialize)]
struct Input {
    x: Vec<f64>,
    n: usize,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { x, n } = parse(input)?;
    match function {
        "primal" => timed(runs, || llsq(&x, n), |y| y),
        "gradient" => timed(runs, || llsq_grad(&x, n), |(_, dx)| dx),
        _ => Err(unknown_function("llsq", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn gradient_matches_central_differences() {
        for (n, m) in [(2, 1), (5, 3), (16, 8), (33, 6)] {
            let x = draws(m, 3 * n as u64 + m as u64);
            let (y, dx) = llsq_grad(&x, n);
            assert_eq!(y, llsq(&x, n));
            let numeric = backprop::numeric_gradient(|p: &[f64]| llsq(p, n), &x);
            assert_close(&dx, &numeric, 1e-6);
        }
    }

    #[test]
    fn zero_coefficients_fit_the_signs_with_error_n_minus_zeros() {
        // With x = 0 every residual is sign(tᵢ): ½ (n − 1) for odd n (t = 0 once).
        assert_eq!(llsq(&[0.0, 0.0], 5), 2.0);
    }
}
