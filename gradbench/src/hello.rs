//! `hello`: `square(x) = x²`, and `double`, its derivative.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde_json::Value;

#[backprop]
pub fn square(x: f64) -> f64 {
    x * x
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let x: f64 = parse(input)?;
    match function {
        "square" => timed(Runs::ONCE, || square(x), |y| y),
        "double" => timed(Runs::ONCE, || square_grad(x), |(_, dx)| dx),
        _ => Err(unknown_function("hello", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_is_the_derivative_of_square() {
        for x in [-3.5, 0.0, 1.0, 2.25] {
            let (y, dx) = square_grad(x);
            assert_eq!(y, x * x);
            let numeric = backprop::numeric_gradient(|p: &[f64]| square(p[0]), &[x]);
            assert!((dx - numeric[0]).abs() < 1e-6, "{dx} vs {numeric:?}");
            assert_eq!(dx, 2.0 * x);
        }
    }
}
