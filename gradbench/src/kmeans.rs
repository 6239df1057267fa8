//! `kmeans`: the k-means cost `Σᵢ minⱼ ‖Cⱼ − Pᵢ‖²` of the centroids `C`, and Newton's step
//! direction `J H⁻¹`, where the Hessian `H` with respect to the centroids is diagonal: one
//! Hessian–vector product with the all-ones vector gives its diagonal, beside the gradient `J`.

use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::Deserialize;
use serde_json::Value;

/// The cost of the `d`-dimensional `centroids` for the `points` (both row-major).
#[backprop(wrt(centroids), hvp)]
pub fn kmeans_cost(points: &[f64], centroids: &[f64], d: usize) -> f64 {
    let n = points.len() / d;
    let k = centroids.len() / d;
    let mut cost = 0.0;
    for i in 0..n {
        let mut closest = f64::INFINITY;
        for j in 0..k {
            let mut dist = 0.0;
            for l in 0..d {
                let diff = centroids[j * d + l] - points[i * d + l];
                dist += diff * diff;
            }
            closest = closest.min(dist);
        }
        cost += closest;
    }
    cost
}

#[derive(Deserialize)]
struct Input {
    points: Vec<Vec<f64>>,
    centroids: Vec<Vec<f64>>,
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let i: Input = parse(input)?;
    let d = i.centroids.first().map_or(0, Vec::len);
    if d == 0 || i.points.iter().chain(&i.centroids).any(|p| p.len() != d) {
        return Err("kmeans: points and centroids must all have the same d ≥ 1".to_string());
    }
    let points = i.points.concat();
    let centroids = i.centroids.concat();
    match function {
        "cost" => timed(runs, || kmeans_cost(&points, &centroids, d), |y| y),
        "dir" => timed(
            runs,
            || {
                let ones = vec![1.0; centroids.len()];
                let (_, gradient, hessian_diagonal) =
                    kmeans_cost_hvp(&points, &centroids, d, &ones);
                gradient
                    .iter()
                    .zip(&hessian_diagonal)
                    .map(|(g, h)| g / h)
                    .collect::<Vec<f64>>()
            },
            |dir| dir.chunks(d).map(<[f64]>::to_vec).collect::<Vec<_>>(),
        ),
        _ => Err(unknown_function("kmeans", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn gradient_and_hessian_diagonal_match_central_differences() {
        let (n, k, d) = (12, 3, 2);
        let points = draws(n * d, 91);
        let centroids = draws(k * d, 92);
        let ones = vec![1.0; k * d];
        let (cost, gradient, h_ones) = kmeans_cost_hvp(&points, &centroids, d, &ones);
        assert_eq!(cost, kmeans_cost(&points, &centroids, d));
        let numeric =
            backprop::numeric_gradient(|c: &[f64]| kmeans_cost(&points, c, d), &centroids);
        assert_close(&gradient, &numeric, 1e-6);
        // The Hessian is diagonal: 2 × (the number of points closest to the centroid).
        for j in 0..k * d {
            let column = backprop::numeric_gradient(
                |c: &[f64]| {
                    let mut at = centroids.clone();
                    at[j] = c[0];
                    kmeans_cost_grad(&points, &at, d).1[j]
                },
                &[centroids[j]],
            );
            assert_close(&[h_ones[j]], &column, 1e-6);
        }
    }

    #[test]
    fn dir_is_the_centroid_minus_its_cluster_mean() {
        let input = serde_json::json!({
            "points": [[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]],
            "centroids": [[1.0, 1.0], [9.0, 9.0]],
            "min_runs": 1, "min_seconds": 0,
        });
        let out = evaluate("dir", &input).unwrap().output;
        assert_eq!(out, serde_json::json!([[0.0, 1.0], [-1.0, -1.0]]));
    }
}
