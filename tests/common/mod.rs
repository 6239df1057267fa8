//! Shared helpers of the integration tests: exact references by forward-mode dual numbers
//! (`num-dual`) and the comparison that every gradient test makes.
#![allow(dead_code)]

use backprop::{Gradient, Real, check_gradient, relative_error};
use num_dual::{Dual, DualNum, DualNumFloat};

/// Value and gradient of `f` at `at` by forward mode: one dual pass per input.
pub fn dual_gradient<F>(f: impl Fn(&[Dual<F>]) -> Dual<F>, at: &[F]) -> (F, Vec<F>)
where
    F: DualNum + DualNumFloat,
{
    let mut value = F::zero();
    let gradient = (0..at.len())
        .map(|seeded| {
            let inputs: Vec<Dual<F>> = at
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    if i == seeded {
                        Dual::from_re(x).derivative()
                    } else {
                        Dual::from_re(x)
                    }
                })
                .collect();
            let out = f(&inputs);
            value = out.re;
            out.eps
        })
        .collect();
    (value, gradient)
}

/// Value and directional derivative `J·t` of `f` at `at` in the direction `t`: one dual pass
/// with every input seeded with its tangent (the exact reference of a JVP).
pub fn dual_directional<F>(f: impl Fn(&[Dual<F>]) -> Dual<F>, at: &[F], t: &[F]) -> (F, F)
where
    F: DualNum + DualNumFloat,
{
    let inputs: Vec<Dual<F>> = at.iter().zip(t).map(|(&x, &t)| Dual::new(x, t)).collect();
    let out = f(&inputs);
    (out.re, out.eps)
}

/// The central difference of `f` at `at` in the direction `t`, step `h`.
pub fn central_directional(f: impl Fn(&[f64]) -> f64, at: &[f64], t: &[f64], h: f64) -> f64 {
    let moved = |s: f64| -> Vec<f64> { at.iter().zip(t).map(|(x, t)| x + s * t).collect() };
    (f(&moved(h)) - f(&moved(-h))) / (2.0 * h)
}

/// A constant as a dual number (num-dual's operators take scalars on the right only).
pub fn c<F: DualNum + DualNumFloat>(x: F) -> Dual<F> {
    Dual::from_re(x)
}

/// Asserts that `(value, gradient)` computed by generated code equals the exact reference to
/// `tolerance` (relative, with the same absolute floor for components near zero), and agrees
/// with central differences of `f` within the default tolerances of `F`.
pub fn assert_gradient_exact<F: Real + Gradient<F>, G: Gradient<F>>(
    what: &str,
    at: &[F],
    (value, gradient): (F, G),
    (ref_value, ref_gradient): (F, Vec<F>),
    f: impl FnMut(&[F]) -> F,
    tolerance: F,
) {
    let close = |a: F, b: F| (a - b).abs() <= tolerance * F::one().max(a.abs().max(b.abs()));
    assert!(
        close(value, ref_value),
        "{what} at {at:?}: value {value} but the reference says {ref_value}"
    );
    let flat = gradient.flatten();
    assert_eq!(flat.len(), ref_gradient.len(), "{what}: gradient length");
    for (i, (&g, &r)) in flat.iter().zip(&ref_gradient).enumerate() {
        assert!(
            close(g, r),
            "{what} at {at:?}: component {i} is {g} but the exact reference says {r} (relative error {:e})",
            relative_error(g, r)
        );
    }
    let numeric = check_gradient(f, at, &flat);
    assert!(
        numeric.passed(),
        "{what} at {at:?}: disagrees with central differences\n{numeric}"
    );
}

/// Compares generated source with its golden snapshot in `tests/snapshots/` (`BLESS=1`
/// rewrites it).
pub fn check_snapshot(name: &str, source: &str) {
    let path = format!(
        "{}/tests/snapshots/{name}.expanded.rs",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, source).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("no snapshot {path}; create it with BLESS=1 cargo test --test snapshots")
    });
    assert!(
        expected == source,
        "generated code of `{name}` changed; if intended, re-bless with BLESS=1 cargo test --test snapshots\n--- expected\n{expected}\n--- generated\n{source}"
    );
}

/// Compares a checked-in generated file `tests/generated/{file}` with what its generator writes
/// now (`BLESS=1` rewrites it); `test` names the test target that regenerates it.
pub fn check_generated(file: &str, source: &str, test: &str) {
    let path = format!("{}/tests/generated/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, source).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == source,
        "{path} is stale; re-create it with BLESS=1 cargo test --test {test}"
    );
}

/// SplitMix64: a small, fixed, portable pseudo-random generator (the random-program tests'
/// generators draw from it, so their programs repeat exactly).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Value, gradient and `H·v` of `f` at `at`: one hyper-dual pass per component.
pub fn hyper(
    f: impl Fn(&[num_dual::HyperDual64]) -> num_dual::HyperDual64,
    at: &[f64],
    v: &[f64],
) -> (f64, Vec<f64>, Vec<f64>) {
    let n = at.len();
    let (mut value, mut gradient, mut hv) = (0.0, Vec::new(), Vec::new());
    for i in 0..n {
        let inputs: Vec<num_dual::HyperDual64> = (0..n)
            .map(|j| num_dual::HyperDual64::new(at[j], if i == j { 1.0 } else { 0.0 }, v[j], 0.0))
            .collect();
        let out = f(&inputs);
        value = out.re;
        gradient.push(out.eps1);
        hv.push(out.eps1eps2);
    }
    (value, gradient, hv)
}

pub fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * 1f64.max(x.abs().max(y.abs())),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

/// `H·v` by central differences of a gradient: (∇f(p + h v) − ∇f(p − h v)) / 2h.
pub fn central_hv(grad: impl Fn(&[f64]) -> Vec<f64>, at: &[f64], v: &[f64], h: f64) -> Vec<f64> {
    let moved = |s: f64| -> Vec<f64> { at.iter().zip(v).map(|(x, v)| x + s * v).collect() };
    let (plus, minus) = (grad(&moved(h)), grad(&moved(-h)));
    plus.iter()
        .zip(&minus)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect()
}
