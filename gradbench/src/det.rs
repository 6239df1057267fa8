//! `det`: the determinant of an ℓ×ℓ matrix by expansion by minors along the first row
//! (cmpad's `det_by_minor`), and its gradient with respect to the matrix.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The determinant of the row-major `ell`×`ell` matrix `a`: Σⱼ (−1)ʲ a₀ⱼ det(M₀ⱼ), where the
/// minor M₀ⱼ is `a` without its first row and its column j.
#[backprop(wrt(a))]
pub fn det(a: &[f64], ell: usize) -> f64 {
    if ell == 1 {
        return a[0];
    }
    let size = ell - 1;
    let mut minor = vec![0.0; size * size];
    let mut total = 0.0;
    let mut sign = 1.0;
    for j in 0..ell {
        for r in 1..ell {
            for c in 0..j {
                minor[(r - 1) * size + c] = a[r * ell + c];
            }
            for c in j + 1..ell {
                minor[(r - 1) * size + c - 1] = a[r * ell + c];
            }
        }
        total += sign * a[j] * det(&minor, size);
        sign = -sign;
    }
    total
}

#[derive(Deserialize)]
struct Input {
    #[serde(rename = "A")]
    a: Vec<f64>,
    ell: usize,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let Input { a, ell } = parse(input)?;
    if ell == 0 || a.len() != ell * ell {
        return Err(format!(
            "det: A has {} entries, not ell² = {}",
            a.len(),
            ell * ell
        ));
    }
    match function {
        "primal" => timed(runs, || det(&a, ell), |y| y),
        "gradient" => timed(runs, || det_grad(&a, ell), |(_, da)| da),
        _ => Err(unknown_function("det", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn determinants_of_known_matrices() {
        assert_eq!(det(&[3.0], 1), 3.0);
        assert_eq!(det(&[1.0, 2.0, 3.0, 4.0], 2), -2.0);
        let a = [2.0, 0.0, 1.0, 1.0, 3.0, 2.0, 1.0, 1.0, 2.0];
        assert!((det(&a, 3) - 6.0).abs() < 1e-12);
    }

    #[test]
    fn gradient_matches_central_differences_and_the_cofactors() {
        for ell in 1..=5 {
            let a = draws(ell * ell, 7 + ell as u64);
            let (y, da) = det_grad(&a, ell);
            assert_eq!(y, det(&a, ell));
            let numeric = backprop::numeric_gradient(|p: &[f64]| det(p, ell), &a);
            assert_close(&da, &numeric, 1e-6);
        }
        // The gradient of det A is its cofactor matrix: for [[a, b], [c, d]], [[d, −c], [−b, a]].
        let (_, da) = det_grad(&[1.0, 2.0, 3.0, 4.0], 2);
        assert_eq!(da, [4.0, -3.0, -2.0, 1.0]);
    }
}
