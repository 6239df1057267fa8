//! `gmm`: the log posterior of a Gaussian mixture model with a Wishart prior on the precision
//! matrices (ADBench's GMM objective, with GradBench's fixes), and its gradient with respect
//! to `alpha`, `mu`, `q` and `l`.
//!
//! Written with the eval's simplifications: for each point and component,
//! `βᵢₖ = αₖ + Σⱼ qₖⱼ − ½ ‖Qₖ (xᵢ − μₖ)‖²`, where `Qₖ` is lower triangular with diagonal
//! `exp(qₖ)` and `lₖ` below it, column by column; the log likelihood is
//! `Σᵢ logsumexp(βᵢ) − N (D/2 ln 2π + logsumexp(α))`, and the log prior
//! `Σₖ (m Σⱼ qₖⱼ − γ²/2 ‖Qₖ‖²_F) + K (nD ln(γ/√2) − ln Γ_D(n/2))` with `n = D + m + 1`.
//! Matrices are row-major slices.

use crate::lse::{logsumexp, logsumexp_backward};
use crate::protocol::{Evaluation, Runs, parse, timed, unknown_function};
use backprop::backprop;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::f64::consts::{PI, SQRT_2};

/// ln Γ(a) for a positive multiple of ½, exactly as a sum of logarithms:
/// Γ(a) = (a − 1)(a − 2)⋯ down to Γ(1) = 1 or Γ(½) = √π.
pub fn ln_gamma_half_integer(a: f64) -> f64 {
    let mut out = 0.0;
    let mut v = a;
    while v > 1.0 {
        v -= 1.0;
        out += v.ln();
    }
    if v == 0.5 { out + 0.5 * PI.ln() } else { out }
}

/// The logarithm of the multivariate gamma function Γ_d(a), for `a` a multiple of ½.
pub fn ln_multigamma(d: usize, a: f64) -> f64 {
    let mut out = 0.25 * (d * (d - 1)) as f64 * PI.ln();
    for j in 1..=d {
        out += ln_gamma_half_integer(a + 0.5 * (1.0 - j as f64));
    }
    out
}

/// The log posterior. `x` holds the `n` points of dimension `d`; `alpha` the `k` weight
/// parameters, `mu` the `k` means, `q` the `k` log-diagonals and `l` the `k` strictly lower
/// triangles (`d (d − 1) / 2` each) of the precision matrices' factors.
// The other loops read several arrays at offsets (`c * d + j`, the triangle's `r` from
// `j + 1`): index loops.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[backprop(wrt(alpha, mu, q, l))]
pub fn gmm_objective(
    d: usize,
    k: usize,
    n: usize,
    x: &[f64],
    m: usize,
    gamma: f64,
    alpha: &[f64],
    mu: &[f64],
    q: &[f64],
    l: &[f64],
) -> f64 {
    let l_size = d * (d - 1) / 2;
    // The diagonals of the factors Qₖ, and Σⱼ qₖⱼ = ln det Qₖ.
    let mut q_diag = vec![0.0; k * d];
    let mut sum_q = vec![0.0; k];
    for c in 0..k {
        for j in 0..d {
            q_diag[c * d + j] = q[c * d + j].exp();
            sum_q[c] += q[c * d + j];
        }
    }

    let mut centered = vec![0.0; d];
    let mut q_centered = vec![0.0; d];
    let mut beta = vec![0.0; k];
    let mut sum_lse = 0.0;
    for i in 0..n {
        for c in 0..k {
            for (j, cj) in centered.iter_mut().enumerate() {
                *cj = x[i * d + j] - mu[c * d + j];
            }
            // Qₖ (xᵢ − μₖ): the diagonal, then the lower triangle column by column.
            for j in 0..d {
                q_centered[j] = q_diag[c * d + j] * centered[j];
            }
            let mut idx = c * l_size;
            for j in 0..d {
                for r in j + 1..d {
                    q_centered[r] += l[idx] * centered[j];
                    idx += 1;
                }
            }
            let mut sqnorm = 0.0;
            for &v in &q_centered {
                sqnorm += v * v;
            }
            beta[c] = alpha[c] + sum_q[c] - 0.5 * sqnorm;
        }
        sum_lse += logsumexp(&beta);
    }
    let log_likelihood = sum_lse - n as f64 * (0.5 * d as f64 * (2.0 * PI).ln() + logsumexp(alpha));

    // The Wishart prior on each precision matrix Qₖᵀ Qₖ, with n = d + m + 1.
    let dof = (d + m + 1) as f64;
    let mut log_prior = 0.0;
    for c in 0..k {
        let mut frobenius = 0.0;
        for j in 0..d {
            frobenius += q_diag[c * d + j] * q_diag[c * d + j];
        }
        for j in 0..l_size {
            frobenius += l[c * l_size + j] * l[c * l_size + j];
        }
        log_prior += m as f64 * sum_q[c] - 0.5 * gamma * gamma * frobenius;
    }
    let prior_constant =
        k as f64 * (dof * d as f64 * (gamma / SQRT_2).ln() - ln_multigamma(d, 0.5 * dof));
    log_likelihood + log_prior + prior_constant
}

/// The eval's input: nested rows, flattened row-major on reading.
#[derive(Deserialize)]
struct Input {
    d: usize,
    k: usize,
    n: usize,
    x: Vec<Vec<f64>>,
    m: usize,
    gamma: f64,
    alpha: Vec<f64>,
    mu: Vec<Vec<f64>>,
    q: Vec<Vec<f64>>,
    l: Vec<Vec<f64>>,
}

/// The gradient, in the input's shapes.
#[derive(Serialize)]
struct Jacobian {
    alpha: Vec<f64>,
    mu: Vec<Vec<f64>>,
    q: Vec<Vec<f64>>,
    l: Vec<Vec<f64>>,
}

fn rows(flat: &[f64], width: usize) -> Vec<Vec<f64>> {
    if width == 0 {
        // d = 1 has empty triangles: one empty row per component.
        return Vec::new();
    }
    flat.chunks(width).map(<[f64]>::to_vec).collect()
}

pub fn evaluate(function: &str, input: &Value) -> Result<Evaluation, String> {
    let runs = Runs::of(input)?;
    let i: Input = parse(input)?;
    let (d, k, n) = (i.d, i.k, i.n);
    let x = i.x.concat();
    let mu = i.mu.concat();
    let q = i.q.concat();
    let l = i.l.concat();
    let l_size = d * (d - 1) / 2;
    if x.len() != n * d
        || i.alpha.len() != k
        || mu.len() != k * d
        || q.len() != k * d
        || l.len() != k * l_size
    {
        return Err("gmm: the sizes of x, alpha, mu, q, l do not match d, k, n".to_string());
    }
    let (m, gamma, alpha) = (i.m, i.gamma, &i.alpha);
    match function {
        "objective" => timed(
            runs,
            || gmm_objective(d, k, n, &x, m, gamma, alpha, &mu, &q, &l),
            |y| y,
        ),
        "jacobian" => timed(
            runs,
            || gmm_objective_grad(d, k, n, &x, m, gamma, alpha, &mu, &q, &l),
            |(_, (d_alpha, d_mu, d_q, d_l))| Jacobian {
                alpha: d_alpha,
                mu: rows(&d_mu, d),
                q: rows(&d_q, d),
                l: if l_size == 0 {
                    vec![Vec::new(); k]
                } else {
                    rows(&d_l, l_size)
                },
            },
        ),
        _ => Err(unknown_function("gmm", function)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, draws};

    #[test]
    fn ln_gamma_of_half_integers() {
        // Γ(1/2) = √π, Γ(3) = 2, Γ(7/2) = 15√π/8.
        assert!((ln_gamma_half_integer(0.5) - 0.5 * PI.ln()).abs() < 1e-15);
        assert!((ln_gamma_half_integer(3.0) - 2f64.ln()).abs() < 1e-15);
        assert!((ln_gamma_half_integer(3.5) - (15.0 * PI.sqrt() / 8.0).ln()).abs() < 1e-14);
        assert_eq!(ln_gamma_half_integer(1.0), 0.0);
    }

    /// The log posterior straight from the definition, for d = 2: the densities multiplied,
    /// then the logarithm taken.
    fn naive_d2(
        x: &[f64],
        m: usize,
        gamma: f64,
        alpha: &[f64],
        mu: &[f64],
        q: &[f64],
        l: &[f64],
    ) -> f64 {
        let k = alpha.len();
        let total: f64 = alpha.iter().map(|a| a.exp()).sum();
        let mut log_likelihood = 0.0;
        for p in x.chunks(2) {
            let mut density = 0.0;
            for c in 0..k {
                // Q = [[e^q0, 0], [l0, e^q1]]; Σ⁻¹ = QᵀQ; det Σ⁻¹ = e^{2(q0 + q1)}.
                let (a, b) = (p[0] - mu[2 * c], p[1] - mu[2 * c + 1]);
                let y0 = q[2 * c].exp() * a;
                let y1 = l[c] * a + q[2 * c + 1].exp() * b;
                let det_inv = (2.0 * (q[2 * c] + q[2 * c + 1])).exp();
                let gauss =
                    (-0.5 * (y0 * y0 + y1 * y1)).exp() / ((2.0 * PI).powi(2) / det_inv).sqrt();
                density += alpha[c].exp() / total * gauss;
            }
            log_likelihood += density.ln();
        }
        // Wishart(V = I/γ², n = 2 + m + 1) at QᵀQ, p = 2.
        let nn = (2 + m + 1) as f64;
        let mut log_prior = 0.0;
        for c in 0..k {
            let det_x = (2.0 * (q[2 * c] + q[2 * c + 1])).exp();
            let frob = (2.0 * q[2 * c]).exp() + (2.0 * q[2 * c + 1]).exp() + l[c] * l[c];
            let ln_gamma2 = 0.5 * PI.ln()
                + ln_gamma_half_integer(nn / 2.0)
                + ln_gamma_half_integer(nn / 2.0 - 0.5);
            log_prior += (nn - 3.0) / 2.0 * det_x.ln()
                - gamma * gamma * frob / 2.0
                - (nn * 2.0 / 2.0) * 2f64.ln()
                - nn / 2.0 * (1.0 / gamma.powi(4)).ln()
                - ln_gamma2;
        }
        log_likelihood + log_prior
    }

    #[test]
    fn objective_matches_the_definition() {
        let (k, n, m, gamma) = (3, 5, 2, 1.3);
        let x: Vec<f64> = draws(2 * n, 1).iter().map(|v| 2.0 * v - 1.0).collect();
        let alpha: Vec<f64> = draws(k, 2).iter().map(|v| v - 0.5).collect();
        let mu = draws(2 * k, 3);
        let q: Vec<f64> = draws(2 * k, 4).iter().map(|v| 0.5 * v - 0.25).collect();
        let l: Vec<f64> = draws(k, 5).iter().map(|v| v - 0.5).collect();
        let ours = gmm_objective(2, k, n, &x, m, gamma, &alpha, &mu, &q, &l);
        let naive = naive_d2(&x, m, gamma, &alpha, &mu, &q, &l);
        assert!(
            (ours - naive).abs() < 1e-10 * naive.abs(),
            "{ours} vs {naive}"
        );
    }

    #[test]
    fn gradient_matches_central_differences() {
        for (d, k, n, m) in [(1, 2, 3, 0), (2, 3, 4, 1), (4, 3, 5, 0)] {
            let l_size = d * (d - 1) / 2;
            let seed = (d * 100 + k * 10 + n) as u64;
            let x: Vec<f64> = draws(n * d, seed).iter().map(|v| 2.0 * v - 1.0).collect();
            let alpha: Vec<f64> = draws(k, seed + 1).iter().map(|v| v - 0.5).collect();
            let mu = draws(k * d, seed + 2);
            let q: Vec<f64> = draws(k * d, seed + 3).iter().map(|v| v - 0.5).collect();
            let l: Vec<f64> = draws(k * l_size, seed + 4)
                .iter()
                .map(|v| v - 0.5)
                .collect();
            let gamma = 0.9;
            let (y, (d_alpha, d_mu, d_q, d_l)) =
                gmm_objective_grad(d, k, n, &x, m, gamma, &alpha, &mu, &q, &l);
            assert_eq!(y, gmm_objective(d, k, n, &x, m, gamma, &alpha, &mu, &q, &l));
            // All four parameters as one vector.
            let all = [alpha.clone(), mu.clone(), q.clone(), l.clone()].concat();
            let numeric = backprop::numeric_gradient(
                |p: &[f64]| {
                    let (a, rest) = p.split_at(k);
                    let (mu, rest) = rest.split_at(k * d);
                    let (q, l) = rest.split_at(k * d);
                    gmm_objective(d, k, n, &x, m, gamma, a, mu, q, l)
                },
                &all,
            );
            let analytic = [d_alpha, d_mu, d_q, d_l].concat();
            assert_close(&analytic, &numeric, 1e-6);
        }
    }

    #[test]
    fn jacobian_has_the_input_shapes() {
        let input = serde_json::json!({
            "d": 2, "k": 2, "n": 1, "x": [[0.1, 0.2]], "m": 0, "gamma": 1.0,
            "alpha": [0.1, -0.1], "mu": [[0.0, 0.5], [0.5, 0.0]],
            "q": [[0.1, 0.2], [0.0, -0.1]], "l": [[0.3], [-0.2]],
            "min_runs": 1, "min_seconds": 0,
        });
        let out = evaluate("jacobian", &input).unwrap().output;
        let mut keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["alpha", "l", "mu", "q"]);
        assert_eq!(out["alpha"].as_array().unwrap().len(), 2);
        assert_eq!(out["mu"][1].as_array().unwrap().len(), 2);
        assert_eq!(out["l"][0].as_array().unwrap().len(), 1);
    }
}
