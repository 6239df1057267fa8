//! Second order: a truncated-Newton (Newton–CG) minimisation of a logistic regression that
//! uses Hessian–vector products only (`logistic_loss_hvp`), never the Hessian itself, beside
//! plain gradient descent on the same loss.
//!
//! Each Newton step solves `H p = −g` by conjugate gradients, each CG iteration one `f_hvp`
//! (one forward pass with tangents and one reverse pass), then backtracks along `p`.
//!
//! `cargo run --release --example newton`

// Written with index loops, as a C++ port is (`#[backprop]` differentiates them).
#![allow(clippy::needless_range_loop)]

use backprop::backprop;

/// The mean logistic loss of labels `y = ±1` on rows of `x` (`n × d`, row-major), with an L2
/// penalty, written with loops as a C++ port would.
#[backprop(wrt(w), hvp)]
fn logistic_loss(w: &[f64], x: &[f64], y: &[f64], lambda: f64) -> f64 {
    let d = w.len();
    let n = y.len();
    let mut total = 0.0;
    for i in 0..n {
        let mut z = 0.0;
        for j in 0..d {
            z += w[j] * x[i * d + j];
        }
        // ln(1 + e^m), m = −y z, without overflow.
        let m = -y[i] * z;
        if m > 0.0 {
            total += m + (-m).exp().ln_1p();
        } else {
            total += m.exp().ln_1p();
        }
    }
    let mut reg = 0.0;
    for j in 0..d {
        reg += w[j] * w[j];
    }
    total / n as f64 + 0.5 * lambda * reg
}

/// A fixed-seed generator for the synthetic data.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn main() {
    let (n, d, lambda) = (400, 6, 1e-3);
    let mut rng = Rng(7);
    let truth: Vec<f64> = (0..d).map(|j| (j as f64 - 2.5) * 0.8).collect();
    let x: Vec<f64> = (0..n * d).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let z = dot(&truth, &x[i * d..(i + 1) * d]);
            if z + 0.3 * (rng.uniform() - 0.5) > 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();

    println!("Newton–CG, H·v from logistic_loss_hvp:");
    let mut w = vec![0.0; d];
    let mut hvps = 0;
    for iteration in 0..20 {
        let (loss, g) = logistic_loss_grad(&w, &x, &y, lambda);
        let norm = dot(&g, &g).sqrt();
        println!("  {iteration:>3}  loss {loss:.12}  |g| {norm:.3e}  ({hvps} H·v so far)");
        if norm < 1e-10 {
            break;
        }
        // Conjugate gradients on H p = −g.
        let mut p = vec![0.0; d];
        let mut r: Vec<f64> = g.iter().map(|g| -g).collect();
        let mut s = r.clone();
        for _ in 0..2 * d {
            let (_, _, hs) = logistic_loss_hvp(&w, &x, &y, lambda, &s);
            hvps += 1;
            let alpha = dot(&r, &r) / dot(&s, &hs);
            let rr = dot(&r, &r);
            for j in 0..d {
                p[j] += alpha * s[j];
                r[j] -= alpha * hs[j];
            }
            if dot(&r, &r).sqrt() < 1e-12 * norm.max(1.0) {
                break;
            }
            let beta = dot(&r, &r) / rr;
            for j in 0..d {
                s[j] = r[j] + beta * s[j];
            }
        }
        // Backtracking along the Newton direction.
        let mut step = 1.0;
        while step > 1e-8 {
            let trial: Vec<f64> = w.iter().zip(&p).map(|(w, p)| w + step * p).collect();
            if logistic_loss(&trial, &x, &y, lambda) <= loss + 1e-4 * step * dot(&g, &p) {
                w = trial;
                break;
            }
            step *= 0.5;
        }
    }
    let newton_loss = logistic_loss(&w, &x, &y, lambda);

    println!("Gradient descent, step 1.0:");
    let mut w = vec![0.0; d];
    let mut iterations = 0;
    for iteration in 0..20_000 {
        let (loss, g) = logistic_loss_grad(&w, &x, &y, lambda);
        let norm = dot(&g, &g).sqrt();
        if iteration % 2000 == 0 || norm < 1e-10 {
            println!("  {iteration:>5}  loss {loss:.12}  |g| {norm:.3e}");
        }
        iterations = iteration;
        if norm < 1e-10 {
            break;
        }
        for j in 0..d {
            w[j] -= g[j];
        }
    }
    println!(
        "Newton–CG reached loss {newton_loss:.12} with {hvps} Hessian–vector products; \
         gradient descent took {iterations} gradients"
    );
}
