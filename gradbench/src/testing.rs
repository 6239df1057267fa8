//! What the derivative tests share: deterministic draws and a tolerant comparison.

/// `n` values in [0, 1) from a fixed seed (a 64-bit linear congruential generator).
pub fn draws(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Every entry of `analytic` within `tol` of `numeric`, relative to the larger of the two
/// (and to 1 near zero, where central differences only have absolute accuracy).
pub fn assert_close(analytic: &[f64], numeric: &[f64], tol: f64) {
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let scale = a.abs().max(n.abs()).max(1.0);
        assert!(
            (a - n).abs() <= tol * scale,
            "entry {i}: analytic {a}, central differences {n}"
        );
    }
}
