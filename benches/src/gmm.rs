//! The GMM objective of the standard AD benchmark (ADBench, and GradBench's `gmm` eval, which
//! takes it over): the log-likelihood of `n` points in `d` dimensions under a mixture of `k`
//! Gaussians, plus a Wishart prior on the precision matrices, differentiated with respect to the
//! mixture's parameters.
//!
//! * [`gmm_objective`]: a port of ADBench's C++ `gmm_objective` (`src/cpp/shared/gmm.h`), written
//!   the way a C++ programmer ports it: flat `&[f64]` slices, the work buffers declared once
//!   (`vec![0.0; ..]`) and overwritten for every point and component, plain loops. The helpers
//!   of the C++ file (`preprocess_qs`, `subtract`, `Qtimesx`, `sqnorm`, `logsumexp`,
//!   `log_wishart_prior`) are written out in its body, so it is one function.
//! * [`gmm_gradient_hand`]: its gradient with respect to `alphas`, `means` and `icf`, written by
//!   hand in the style of ADBench's "manual" tool: one pass over the points, each computing the
//!   `k` main terms, their softmax weights and the weighted contributions to the three
//!   gradients, into buffers allocated once; then the `logsumexp(alphas)` and prior terms.
//! * [`generate`]: deterministic inputs drawn as ADBench's `gmm-data-gen.py` draws them.
//!
//! The parameters, as in ADBench:
//!
//! * `alphas` (k): the logs of the unnormalised mixture weights;
//! * `means` (k·d): component `ik`'s mean is `means[ik * d..(ik + 1) * d]`;
//! * `icf` (k·d(d+1)/2): component `ik`'s inverse covariance factor, a lower-triangular `Q` with
//!   Σ⁻¹ = QᵀQ (ADBench's `L = inv(chol(C, 'lower'))`), stored as the logs of its diagonal
//!   (`d` entries) then its strict lower triangle column by column (column 0's rows 1..d, then
//!   column 1's rows 2..d, ...);
//! * `x` (n·d): point `ix` is `x[ix * d..(ix + 1) * d]`;
//! * [`Wishart`]: the prior's `gamma` and `m`.
//!
//! The objective is
//!
//! ```text
//! −(n d / 2) ln 2π + Σᵢ logsumexp_k(α_k + Σ_j q_kj − ½‖Q_k (x_i − μ_k)‖²) − n logsumexp(α)
//!   + Σ_k (½ γ² ‖Q_k‖²_F − m Σ_j q_kj) − k C(d, γ, m)
//! ```
//!
//! (ADBench's sign of the prior term, kept as is: GradBench's specification lists it among the
//! original's errata; a port of the benchmark computes what the benchmark computes).

use std::f64::consts::PI;

use backprop::backprop;

/// The Wishart prior's parameters (ADBench's `Wishart`): the scale `gamma` and the extra
/// degrees of freedom `m` (ADBench's data: γ = 1, m = 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wishart {
    pub gamma: f64,
    pub m: usize,
}

/// The test case: d = 2 dimensions, k = 3 components, n = 5 points.
pub const SMALL: (usize, usize, usize) = (2, 3, 5);
/// The benchmark case: ADBench's "1k" data set at d = 10, k = 25 (`gmm_d10_K25.txt`), with
/// n = 1000 points: 25 + 250 + 1375 = 1650 parameters, 25 000 (point, component) pairs.
pub const BENCH: (usize, usize, usize) = (10, 25, 1000);

/// A GMM problem: the shape, the parameters and the data.
#[derive(Clone, Debug)]
pub struct GmmInput {
    pub d: usize,
    pub k: usize,
    pub n: usize,
    pub alphas: Vec<f64>,
    pub means: Vec<f64>,
    pub icf: Vec<f64>,
    pub x: Vec<f64>,
    pub wishart: Wishart,
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit state, one addition and a mixing
/// function per draw; deterministic on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), on the grid of multiples of 2⁻⁵³.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller (the cosine branch; one draw per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]: the logarithm is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Deterministic inputs of shape (d, k, n), drawn as ADBench's `gmm-data-gen.py` draws them
/// (from another generator, so not its numbers): `alphas`, `icf` and `x` standard normal,
/// `means` uniform in [0, 1), and the prior γ = 1, m = 0.
pub fn generate(d: usize, k: usize, n: usize, seed: u64) -> GmmInput {
    let mut rng = SplitMix64::new(seed);
    let icf_sz = d * (d + 1) / 2;
    let alphas = (0..k).map(|_| rng.normal()).collect();
    let means = (0..k * d).map(|_| rng.uniform()).collect();
    let icf = (0..k * icf_sz).map(|_| rng.normal()).collect();
    let x = (0..n * d).map(|_| rng.normal()).collect();
    GmmInput {
        d,
        k,
        n,
        alphas,
        means,
        icf,
        x,
        wishart: Wishart { gamma: 1.0, m: 0 },
    }
}

/// The small test case ([`SMALL`]) from `seed`.
pub fn small(seed: u64) -> GmmInput {
    let (d, k, n) = SMALL;
    generate(d, k, n, seed)
}

/// The benchmark case ([`BENCH`]).
pub fn bench() -> GmmInput {
    let (d, k, n) = BENCH;
    generate(d, k, n, 31337)
}

/// ln Γ(x) for x ≥ 1/2, by Lanczos' approximation (g = 7, nine coefficients; relative error
/// about 1e-15). Rust's standard library has no stable `lgamma`.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let z = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (z + i as f64);
    }
    let t = z + G + 0.5;
    0.5 * (2.0 * PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

/// The log of the multivariate gamma function Γ_p(a) (ADBench's `log_gamma_distrib`).
pub fn log_gamma_distrib(a: f64, p: usize) -> f64 {
    let mut out = 0.25 * (p * (p - 1)) as f64 * PI.ln();
    for j in 1..=p {
        out += ln_gamma(a + 0.5 * (1.0 - j as f64));
    }
    out
}

/// The GMM objective: a port of ADBench's C++ `gmm_objective`, its helpers written out.
///
/// `#[backprop(wrt(alphas, means, icf))]` writes its gradient, `gmm_objective_grad`, from this
/// body as it is.
#[backprop(wrt(alphas, means, icf))]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
pub fn gmm_objective(
    d: usize,
    k: usize,
    n: usize,
    alphas: &[f64],
    means: &[f64],
    icf: &[f64],
    x: &[f64],
    wishart: Wishart,
) -> f64 {
    let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
    let icf_sz = d * (d + 1) / 2;

    let mut qdiags = vec![0.0; d * k];
    let mut sum_qs = vec![0.0; k];
    let mut xcentered = vec![0.0; d];
    let mut qxcentered = vec![0.0; d];
    let mut main_term = vec![0.0; k];

    // preprocess_qs: the diagonals exp(q) and the sums of the log diagonals
    for ik in 0..k {
        sum_qs[ik] = 0.0;
        for id in 0..d {
            let q = icf[ik * icf_sz + id];
            sum_qs[ik] += q;
            qdiags[ik * d + id] = q.exp();
        }
    }

    let mut slse = 0.0;
    for ix in 0..n {
        for ik in 0..k {
            // subtract: xcentered = x_ix - mu_ik
            for id in 0..d {
                xcentered[id] = x[ix * d + id] - means[ik * d + id];
            }
            // Qtimesx: the diagonal, then the strict lower triangle column by column
            for id in 0..d {
                qxcentered[id] = qdiags[ik * d + id] * xcentered[id];
            }
            let mut lparamsidx = d;
            for i in 0..d {
                for j in i + 1..d {
                    qxcentered[j] += icf[ik * icf_sz + lparamsidx] * xcentered[i];
                    lparamsidx += 1;
                }
            }
            // sqnorm
            let mut sqnorm = 0.0;
            for id in 0..d {
                sqnorm += qxcentered[id] * qxcentered[id];
            }
            main_term[ik] = alphas[ik] + sum_qs[ik] - 0.5 * sqnorm;
        }
        // logsumexp(main_term)
        let mut mx = main_term[0];
        for ik in 1..k {
            mx = mx.max(main_term[ik]);
        }
        let mut semx = 0.0;
        for ik in 0..k {
            semx += (main_term[ik] - mx).exp();
        }
        slse += semx.ln() + mx;
    }

    // logsumexp(alphas)
    let mut mx = alphas[0];
    for ik in 1..k {
        mx = mx.max(alphas[ik]);
    }
    let mut semx = 0.0;
    for ik in 0..k {
        semx += (alphas[ik] - mx).exp();
    }
    let lse_alphas = semx.ln() + mx;

    // log_wishart_prior
    let wishart_n = d + wishart.m + 1;
    let c = (wishart_n * d) as f64 * (wishart.gamma.ln() - 0.5 * 2.0f64.ln())
        - log_gamma_distrib(0.5 * wishart_n as f64, d);
    let mut prior = 0.0;
    for ik in 0..k {
        let mut frobenius = 0.0;
        for id in 0..d {
            frobenius += qdiags[ik * d + id] * qdiags[ik * d + id];
        }
        for id in d..icf_sz {
            frobenius += icf[ik * icf_sz + id] * icf[ik * icf_sz + id];
        }
        prior += 0.5 * wishart.gamma * wishart.gamma * frobenius - wishart.m as f64 * sum_qs[ik];
    }
    prior -= k as f64 * c;

    constant + slse - n as f64 * lse_alphas + prior
}

/// The objective and its gradient with respect to `(alphas, means, icf)`, by hand.
///
/// Per point `x_i` and component `k`, with `xc = x_i − μ_k`, `z = Q_k xc` and
/// `t_k = α_k + Σ_j q_kj − ½‖z‖²`, the point's term `logsumexp(t)` has ∂/∂t_k = w_k, the
/// softmax of `t`; and
///
/// * ∂t_k/∂α_k = 1, ∂t_k/∂q_kj = 1 − z_j e^{q_kj} xc_j (the log diagonal),
/// * ∂t_k/∂Q_k[j, i] = −z_j xc_i (the strict lower triangle, j > i),
/// * ∂t_k/∂μ_k = Q_kᵀ z.
///
/// So one pass over the points computes the `k` vectors `xc`, `z` and terms `t`, the weights
/// `w`, and adds `w_k` times those into the gradients; the ones in ∂t_k/∂α_k and ∂t_k/∂q_kj sum
/// to Σᵢ w_ik per component, kept in one buffer and added to each log diagonal at the end, and
/// the factor e^{q_kj} of the diagonal is applied once at the end too. Then −n logsumexp(α)
/// (∂ = −n softmax(α)) and the prior (∂/∂q_kj = γ² e^{2 q_kj} − m, ∂/∂Q_k[j, i] = γ² Q_k[j, i]).
/// Every buffer is allocated once, before the loop over the points.
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
pub fn gmm_gradient_hand(
    d: usize,
    k: usize,
    n: usize,
    alphas: &[f64],
    means: &[f64],
    icf: &[f64],
    x: &[f64],
    wishart: Wishart,
) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
    let icf_sz = d * (d + 1) / 2;

    let mut d_alphas = vec![0.0; k];
    let mut d_means = vec![0.0; k * d];
    let mut d_icf = vec![0.0; k * icf_sz];

    let mut qdiags = vec![0.0; d * k];
    let mut sum_qs = vec![0.0; k];
    // Σᵢ w_ik: the gradient of every main term's α_k + Σ_j q_kj
    let mut d_main_sum = vec![0.0; k];
    // Σᵢ w_ik z_j xc_j: the log diagonal's gradient, before the factors −e^{q_kj}
    let mut d_qdiag_sum = vec![0.0; d * k];
    // per point, all components: x_i − μ_k, Q_k (x_i − μ_k), the main terms (then the weights)
    let mut xcentered = vec![0.0; d * k];
    let mut qxcentered = vec![0.0; d * k];
    let mut main_term = vec![0.0; k];

    for ik in 0..k {
        let mut sum = 0.0;
        for id in 0..d {
            let q = icf[ik * icf_sz + id];
            sum += q;
            qdiags[ik * d + id] = q.exp();
        }
        sum_qs[ik] = sum;
    }

    let mut slse = 0.0;
    for ix in 0..n {
        let xi = &x[ix * d..(ix + 1) * d];
        // forward: the k main terms of the point, keeping xc and z of each component
        for ik in 0..k {
            let mu = &means[ik * d..(ik + 1) * d];
            let qdiag = &qdiags[ik * d..(ik + 1) * d];
            let ltri = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
            let xc = &mut xcentered[ik * d..(ik + 1) * d];
            let z = &mut qxcentered[ik * d..(ik + 1) * d];
            for id in 0..d {
                xc[id] = xi[id] - mu[id];
                z[id] = qdiag[id] * xc[id];
            }
            let mut idx = 0;
            for i in 0..d {
                let xc_i = xc[i];
                for j in i + 1..d {
                    z[j] += ltri[idx] * xc_i;
                    idx += 1;
                }
            }
            let mut sqnorm = 0.0;
            for id in 0..d {
                sqnorm += z[id] * z[id];
            }
            main_term[ik] = alphas[ik] + sum_qs[ik] - 0.5 * sqnorm;
        }
        // logsumexp of the main terms; main_term becomes exp(t_k − max)
        let mut mx = main_term[0];
        for ik in 1..k {
            mx = mx.max(main_term[ik]);
        }
        let mut semx = 0.0;
        for ik in 0..k {
            let e = (main_term[ik] - mx).exp();
            main_term[ik] = e;
            semx += e;
        }
        slse += semx.ln() + mx;
        let inv_semx = 1.0 / semx;
        // backward: w_k = softmax(t)_k into the gradients of component k
        for ik in 0..k {
            let w = main_term[ik] * inv_semx;
            d_main_sum[ik] += w;
            let qdiag = &qdiags[ik * d..(ik + 1) * d];
            let ltri = &icf[ik * icf_sz + d..(ik + 1) * icf_sz];
            let d_ltri = &mut d_icf[ik * icf_sz + d..(ik + 1) * icf_sz];
            let d_qdiag = &mut d_qdiag_sum[ik * d..(ik + 1) * d];
            let d_mu = &mut d_means[ik * d..(ik + 1) * d];
            let xc = &xcentered[ik * d..(ik + 1) * d];
            let z = &qxcentered[ik * d..(ik + 1) * d];
            // d_z = −w z; d_xc = Q_kᵀ d_z, column i of Q_k being contiguous in ltri
            let mut idx = 0;
            for i in 0..d {
                let wz_i = w * z[i];
                d_qdiag[i] += wz_i * xc[i];
                let xc_i = xc[i];
                let mut qt_wz = qdiag[i] * wz_i;
                for j in i + 1..d {
                    let wz_j = w * z[j];
                    d_ltri[idx] -= wz_j * xc_i;
                    qt_wz += ltri[idx] * wz_j;
                    idx += 1;
                }
                // μ enters as −μ: d_μ = −d_xc = Q_kᵀ (w z)
                d_mu[i] += qt_wz;
            }
        }
    }

    // logsumexp(alphas), and the softmax of alphas for its gradient
    let mut mx = alphas[0];
    for ik in 1..k {
        mx = mx.max(alphas[ik]);
    }
    let mut semx = 0.0;
    for ik in 0..k {
        semx += (alphas[ik] - mx).exp();
    }
    let lse_alphas = semx.ln() + mx;
    for ik in 0..k {
        d_alphas[ik] = d_main_sum[ik] - n as f64 * (alphas[ik] - mx).exp() / semx;
    }

    // the prior, and the diagonal's and prior's gradients
    let gamma2 = wishart.gamma * wishart.gamma;
    let m = wishart.m as f64;
    let wishart_n = d + wishart.m + 1;
    let c = (wishart_n * d) as f64 * (wishart.gamma.ln() - 0.5 * 2.0f64.ln())
        - log_gamma_distrib(0.5 * wishart_n as f64, d);
    let mut prior = 0.0;
    for ik in 0..k {
        let mut frobenius = 0.0;
        for id in 0..d {
            let qdiag = qdiags[ik * d + id];
            frobenius += qdiag * qdiag;
            d_icf[ik * icf_sz + id] =
                d_main_sum[ik] - qdiag * d_qdiag_sum[ik * d + id] + gamma2 * qdiag * qdiag - m;
        }
        for id in d..icf_sz {
            let l = icf[ik * icf_sz + id];
            frobenius += l * l;
            d_icf[ik * icf_sz + id] += gamma2 * l;
        }
        prior += 0.5 * gamma2 * frobenius - m * sum_qs[ik];
    }
    prior -= k as f64 * c;

    let err = constant + slse - n as f64 * lse_alphas + prior;
    (err, d_alphas, d_means, d_icf)
}

/// The gradient [`gmm_objective_grad`] returns: `(d_alphas, d_means, d_icf)`.
pub type Gradient = (Vec<f64>, Vec<f64>, Vec<f64>);

/// The benchmark's `generated` variant: `gmm_objective_grad`, written by `#[backprop]`.
#[inline(never)]
pub fn generated(at: &GmmInput) -> (f64, Gradient) {
    let GmmInput {
        d,
        k,
        n,
        alphas,
        means,
        icf,
        x,
        wishart,
    } = at;
    gmm_objective_grad(*d, *k, *n, alphas, means, icf, x, *wishart)
}

/// The benchmark's `hand` variant: [`gmm_gradient_hand`].
#[inline(never)]
pub fn hand(at: &GmmInput) -> (f64, Gradient) {
    let GmmInput {
        d,
        k,
        n,
        alphas,
        means,
        icf,
        x,
        wishart,
    } = at;
    let (f, d_alphas, d_means, d_icf) =
        gmm_gradient_hand(*d, *k, *n, alphas, means, icf, x, *wishart);
    (f, (d_alphas, d_means, d_icf))
}

/// The objective alone, [`gmm_objective`] (the denominator of ADBench's gradient / objective
/// ratios).
#[inline(never)]
pub fn objective(at: &GmmInput) -> f64 {
    let GmmInput {
        d,
        k,
        n,
        alphas,
        means,
        icf,
        x,
        wishart,
    } = at;
    gmm_objective(*d, *k, *n, alphas, means, icf, x, *wishart)
}

/// Asserts that `generated` and `hand` agree to [`EXACT`](crate::EXACT) relative error on the
/// objective and on every gradient entry, that the objective is `objective`'s, and that the
/// gradient is finite and has the parameters' shapes.
pub fn check(at: &GmmInput) {
    let (f_g, (da_g, dm_g, di_g)) = generated(at);
    let (f_h, (da_h, dm_h, di_h)) = hand(at);
    assert_eq!(
        (da_g.len(), dm_g.len(), di_g.len()),
        (at.alphas.len(), at.means.len(), at.icf.len())
    );
    crate::assert_close("gmm value", &[f_g], &[f_h], crate::EXACT);
    crate::assert_close(
        "gmm value (objective)",
        &[f_g],
        &[objective(at)],
        crate::EXACT,
    );
    crate::assert_close("gmm d_alphas", &da_g, &da_h, crate::EXACT);
    crate::assert_close("gmm d_means", &dm_g, &dm_h, crate::EXACT);
    crate::assert_close("gmm d_icf", &di_g, &di_h, crate::EXACT);
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop::{numeric_gradient, relative_error};
    use num_dual::{Dual64, DualNum};

    use crate::{EXACT, NUMERIC, assert_close};

    /// [`gmm_objective`] over any dual number type, line for line (the reference for the
    /// forward-mode gradient; with `T = f64` it is the objective itself).
    #[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
    fn gmm_objective_generic<T: DualNum<Primitive = f64> + Copy>(
        d: usize,
        k: usize,
        n: usize,
        alphas: &[T],
        means: &[T],
        icf: &[T],
        x: &[f64],
        wishart: Wishart,
    ) -> T {
        let zero = T::from(0.0);
        let constant = -(n as f64) * (d as f64) * 0.5 * (2.0 * PI).ln();
        let icf_sz = d * (d + 1) / 2;
        let mut qdiags = vec![zero; d * k];
        let mut sum_qs = vec![zero; k];
        let mut xcentered = vec![zero; d];
        let mut qxcentered = vec![zero; d];
        let mut main_term = vec![zero; k];
        for ik in 0..k {
            for id in 0..d {
                let q = icf[ik * icf_sz + id];
                sum_qs[ik] += q;
                qdiags[ik * d + id] = q.exp();
            }
        }
        let max = |a: T, b: T| if b > a { b } else { a };
        let mut slse = zero;
        for ix in 0..n {
            for ik in 0..k {
                for id in 0..d {
                    xcentered[id] = -means[ik * d + id] + x[ix * d + id];
                }
                for id in 0..d {
                    qxcentered[id] = qdiags[ik * d + id] * xcentered[id];
                }
                let mut lparamsidx = d;
                for i in 0..d {
                    for j in i + 1..d {
                        qxcentered[j] += icf[ik * icf_sz + lparamsidx] * xcentered[i];
                        lparamsidx += 1;
                    }
                }
                let mut sqnorm = zero;
                for id in 0..d {
                    sqnorm += qxcentered[id] * qxcentered[id];
                }
                main_term[ik] = alphas[ik] + sum_qs[ik] - sqnorm * 0.5;
            }
            let mut mx = main_term[0];
            for ik in 1..k {
                mx = max(mx, main_term[ik]);
            }
            let mut semx = zero;
            for ik in 0..k {
                semx += (main_term[ik] - mx).exp();
            }
            slse += semx.ln() + mx;
        }
        let mut mx = alphas[0];
        for ik in 1..k {
            mx = max(mx, alphas[ik]);
        }
        let mut semx = zero;
        for ik in 0..k {
            semx += (alphas[ik] - mx).exp();
        }
        let lse_alphas = semx.ln() + mx;
        let wishart_n = d + wishart.m + 1;
        let c = (wishart_n * d) as f64 * (wishart.gamma.ln() - 0.5 * 2.0f64.ln())
            - log_gamma_distrib(0.5 * wishart_n as f64, d);
        let mut prior = zero;
        for ik in 0..k {
            let mut frobenius = zero;
            for id in 0..d {
                frobenius += qdiags[ik * d + id] * qdiags[ik * d + id];
            }
            for id in d..icf_sz {
                frobenius += icf[ik * icf_sz + id] * icf[ik * icf_sz + id];
            }
            prior +=
                frobenius * (0.5 * wishart.gamma * wishart.gamma) - sum_qs[ik] * wishart.m as f64;
        }
        prior -= k as f64 * c;
        (slse + constant) - lse_alphas * n as f64 + prior
    }

    /// The parameters `(alphas, means, icf)` concatenated, and split back.
    fn flatten(input: &GmmInput) -> Vec<f64> {
        [&input.alphas[..], &input.means, &input.icf].concat()
    }

    fn objective_at(input: &GmmInput, p: &[f64]) -> f64 {
        let (k, d) = (input.k, input.d);
        let (alphas, rest) = p.split_at(k);
        let (means, icf) = rest.split_at(k * d);
        gmm_objective(d, k, input.n, alphas, means, icf, &input.x, input.wishart)
    }

    fn hand(input: &GmmInput) -> (f64, Vec<f64>) {
        let GmmInput {
            d,
            k,
            n,
            alphas,
            means,
            icf,
            x,
            wishart,
        } = input;
        let (f, da, dm, di) = gmm_gradient_hand(*d, *k, *n, alphas, means, icf, x, *wishart);
        assert_eq!((da.len(), dm.len(), di.len()), (*k, k * d, icf.len()));
        (f, [da, dm, di].concat())
    }

    fn generated_flat(input: &GmmInput) -> (f64, Vec<f64>) {
        let (f, (da, dm, di)) = generated(input);
        assert_eq!(
            (da.len(), dm.len(), di.len()),
            (input.k, input.k * input.d, input.icf.len())
        );
        (f, [da, dm, di].concat())
    }

    /// The value and the gradient by forward mode, one `Dual64` pass per parameter, the passes
    /// seeding `direction(i)` in turn.
    fn dual_passes(input: &GmmInput, directions: &[Vec<f64>]) -> (f64, Vec<f64>) {
        let (d, k) = (input.d, input.k);
        let p = flatten(input);
        let mut value = f64::NAN;
        let derivatives = directions
            .iter()
            .map(|v| {
                let seeded: Vec<Dual64> = p
                    .iter()
                    .zip(v)
                    .map(|(&re, &eps)| Dual64::new(re, eps))
                    .collect();
                let (alphas, rest) = seeded.split_at(k);
                let (means, icf) = rest.split_at(k * d);
                let f = gmm_objective_generic(
                    d,
                    k,
                    input.n,
                    alphas,
                    means,
                    icf,
                    &input.x,
                    input.wishart,
                );
                value = f.re;
                f.eps
            })
            .collect();
        (value, derivatives)
    }

    fn dual_gradient(input: &GmmInput) -> (f64, Vec<f64>) {
        let len = flatten(input).len();
        let unit = |i: usize| (0..len).map(|j| f64::from(u8::from(i == j))).collect();
        dual_passes(input, &(0..len).map(unit).collect::<Vec<_>>())
    }

    /// The small case at `seed`, and the same with a prior that exercises both its terms.
    fn small_cases(seed: u64) -> [GmmInput; 2] {
        let plain = small(seed);
        let mut prior = small(seed + 100);
        prior.wishart = Wishart { gamma: 0.7, m: 2 };
        [plain, prior]
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        let known = [
            (0.5, PI.sqrt().ln()),
            (1.0, 0.0),
            (1.5, (PI.sqrt() / 2.0).ln()),
            (2.0, 0.0),
            (5.0, 24.0f64.ln()),
            (7.5, 1_871.254_305_797_788_7_f64.ln()),
            (30.0, 71.257_038_967_168_01),
        ];
        for (x, expected) in known {
            let got = ln_gamma(x);
            assert!(
                (got - expected).abs() <= 1e-13 * expected.abs().max(1.0),
                "ln Γ({x}) = {got}, expected {expected}"
            );
        }
        // Γ_1(a) = Γ(a); Γ_2(a) = √π Γ(a) Γ(a − ½)
        assert_eq!(log_gamma_distrib(3.0, 1), ln_gamma(3.0));
        let expected = 0.5 * PI.ln() + ln_gamma(3.0) + ln_gamma(2.5);
        assert!((log_gamma_distrib(3.0, 2) - expected).abs() < 1e-14);
    }

    #[test]
    fn generator_is_deterministic_and_shaped() {
        let a = generate(3, 4, 7, 9);
        let b = generate(3, 4, 7, 9);
        assert_eq!(
            (a.alphas.len(), a.means.len(), a.icf.len(), a.x.len()),
            (4, 12, 24, 21)
        );
        assert_eq!(
            (&a.alphas, &a.means, &a.icf, &a.x),
            (&b.alphas, &b.means, &b.icf, &b.x)
        );
        assert!(a.means.iter().all(|&m| (0.0..1.0).contains(&m)));
        assert_ne!(generate(3, 4, 7, 10).x, a.x);
        let big = bench();
        let mean = big.x.iter().sum::<f64>() / big.x.len() as f64;
        let var = big.x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / big.x.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn objective_matches_its_generic_copy() {
        for seed in 0..4 {
            for input in small_cases(seed) {
                let p = flatten(&input);
                let f = objective_at(&input, &p);
                let (k, d) = (input.k, input.d);
                let generic = gmm_objective_generic::<f64>(
                    d,
                    k,
                    input.n,
                    &p[..k],
                    &p[k..k + k * d],
                    &p[k + k * d..],
                    &input.x,
                    input.wishart,
                );
                assert!(f.is_finite());
                assert_eq!(f, generic);
            }
        }
    }

    #[test]
    fn hand_gradient_matches_dual_numbers() {
        for seed in 0..6 {
            for input in small_cases(seed) {
                let (f, g) = hand(&input);
                let (f_dual, g_dual) = dual_gradient(&input);
                assert_close("gmm value", &[f], &[f_dual], EXACT);
                assert_close("gmm gradient (dual)", &g, &g_dual, EXACT);
            }
        }
        // a larger shape: every loop of the triangle runs several times
        let mut input = generate(4, 5, 20, 77);
        input.wishart = Wishart { gamma: 1.3, m: 1 };
        let (f, g) = hand(&input);
        let (f_dual, g_dual) = dual_gradient(&input);
        assert_close("gmm value (4, 5, 20)", &[f], &[f_dual], EXACT);
        assert_close("gmm gradient (4, 5, 20)", &g, &g_dual, EXACT);
    }

    #[test]
    fn generated_gradient_matches_hand_and_dual_numbers() {
        for seed in 0..6 {
            for input in small_cases(seed) {
                let (f, g) = generated_flat(&input);
                let (f_hand, g_hand) = hand(&input);
                let (f_dual, g_dual) = dual_gradient(&input);
                assert_close("gmm value (generated, hand)", &[f], &[f_hand], EXACT);
                assert_close("gmm value (generated, dual)", &[f], &[f_dual], EXACT);
                assert_close("gmm gradient (generated, hand)", &g, &g_hand, EXACT);
                assert_close("gmm gradient (generated, dual)", &g, &g_dual, EXACT);
            }
        }
        // a larger shape: every loop of the triangle runs several times
        let mut input = generate(4, 5, 20, 77);
        input.wishart = Wishart { gamma: 1.3, m: 1 };
        let (f, g) = generated_flat(&input);
        let (f_hand, g_hand) = hand(&input);
        let (f_dual, g_dual) = dual_gradient(&input);
        assert_close("gmm value (4, 5, 20)", &[f], &[f_hand], EXACT);
        assert_close("gmm value (4, 5, 20, dual)", &[f], &[f_dual], EXACT);
        assert_close("gmm gradient (4, 5, 20, hand)", &g, &g_hand, EXACT);
        assert_close("gmm gradient (4, 5, 20, dual)", &g, &g_dual, EXACT);
    }

    /// The benchmark's check, at the benchmark's size: `generated` and `hand` agree on all
    /// 1650 gradient entries.
    #[test]
    fn generated_gradient_matches_hand_at_the_bench_size() {
        check(&bench());
    }

    #[test]
    #[ignore]
    fn print_gmm_source() {
        println!("{}", gmm_objective_backward_source());
    }

    /// The floor under which a central difference's error is rounding noise: about
    /// ε |f| / h ≈ 1e-16 · 45 / 6e-6 ≈ 1e-9 (the objective is between −10 and 45 on the small
    /// cases). All components but one agree to < 5e-7 relative; the one (seed 102, about 6e-6)
    /// differs by about 1e-10 and passes on this floor, as in `backprop::check_gradient` (whose
    /// floor for f64 is 1e-8).
    const ROUNDING: f64 = 1e-9;

    #[test]
    fn hand_gradient_matches_central_differences() {
        for seed in 0..6 {
            for input in small_cases(seed) {
                let (f, g) = hand(&input);
                let p = flatten(&input);
                assert_close("gmm value", &[f], &[objective_at(&input, &p)], EXACT);
                let numeric = numeric_gradient(|q: &[f64]| objective_at(&input, q), &p);
                for (i, (&a, &b)) in g.iter().zip(&numeric).enumerate() {
                    let error = relative_error(a, b);
                    assert!(
                        error <= NUMERIC || (a - b).abs() <= ROUNDING,
                        "gmm gradient (central)[{i}]: {a} vs {b}, relative error {error:e}"
                    );
                }
            }
        }
    }

    /// At the benchmark's size a full forward-mode gradient takes 1650 passes; one pass along
    /// a random direction v checks the whole hand-written gradient g through g·v.
    #[test]
    fn hand_gradient_matches_a_directional_derivative_at_the_bench_size() {
        let input = bench();
        let (f, g) = hand(&input);
        let p = flatten(&input);
        assert_eq!(g.len(), 1650);
        assert_close(
            "gmm value (bench)",
            &[f],
            &[objective_at(&input, &p)],
            EXACT,
        );
        let mut rng = SplitMix64::new(4);
        let directions: Vec<Vec<f64>> = (0..2)
            .map(|_| (0..p.len()).map(|_| rng.normal()).collect())
            .collect();
        let (f_dual, derivatives) = dual_passes(&input, &directions);
        assert!(relative_error(f, f_dual) < EXACT);
        for (v, derivative) in directions.iter().zip(derivatives) {
            let g_dot_v: f64 = g.iter().zip(v).map(|(a, b)| a * b).sum();
            assert!(
                relative_error(g_dot_v, derivative) < 1e-9,
                "g·v = {g_dot_v}, forward mode {derivative}"
            );
        }
    }
}
