//! Gates with hand-written backward passes.
//!
//! Each gate is a pair, the paired forward/backward API of the lecture notes: `g(x)` computes
//! the value, and `g_backward(x, d_out)` returns `(g(x), d_out * g'(x))`. That is the same
//! contract `#[backprop]` generates for user functions, so the macro needs no special case for
//! these: a call `backprop::sigmoid(x)` in a forward body is differentiated by a call to
//! `backprop::sigmoid_backward(x, d)`.

use num_traits::Float;

/// The logistic sigmoid σ(x) = 1 / (1 + e^(−x)), computed without overflow for large |x|.
pub fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        // e^x / (1 + e^x): the same value, but e^(−x) would overflow to infinity here.
        let e = x.exp();
        e / (F::one() + e)
    }
}

/// Backward of [`sigmoid`]: σ'(x) = (1 − σ(x)) σ(x), reusing the forward value.
pub fn sigmoid_backward<F: Float>(x: F, d_out: F) -> (F, F) {
    let s = sigmoid(x);
    (s, (F::one() - s) * s * d_out)
}

/// The rectified linear unit max(0, x).
pub fn relu<F: Float>(x: F) -> F {
    if x > F::zero() { x } else { F::zero() }
}

/// Backward of [`relu`]: the max gate routes the upstream gradient to `x` where `x > 0`.
///
/// At `x == 0` the subgradient 0 is used, the usual convention.
pub fn relu_backward<F: Float>(x: F, d_out: F) -> (F, F) {
    if x > F::zero() {
        (x, d_out)
    } else if x.is_nan() {
        (x, x)
    } else {
        (F::zero(), F::zero())
    }
}

/// The softplus ln(1 + e^x), a smooth ReLU, computed stably for large |x|.
pub fn softplus<F: Float>(x: F) -> F {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^(−|x|)) never overflows.
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

/// Backward of [`softplus`]: its derivative is σ(x).
pub fn softplus_backward<F: Float>(x: F, d_out: F) -> (F, F) {
    (softplus(x), sigmoid(x) * d_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central difference with a step suited to f64.
    fn slope(f: impl Fn(f64) -> f64, x: f64) -> f64 {
        let h = 1e-6;
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn sigmoid_matches_its_definition_and_does_not_overflow() {
        for x in [-800.0, -30.0, -1.5, 0.0, 0.25, 4.0, 800.0] {
            let reference = 1.0 / (1.0 + f64::exp(-x));
            assert!((sigmoid(x) - reference).abs() <= 1e-15, "x = {x}");
            assert!(sigmoid(x).is_finite());
        }
        assert!((sigmoid(0.0f32) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn backward_passes_match_central_differences() {
        for x in [-3.0, -0.7, 0.3, 2.5] {
            let (y, d) = sigmoid_backward(x, 2.0);
            assert_eq!(y, sigmoid(x));
            assert!((d - 2.0 * slope(sigmoid, x)).abs() < 1e-8, "sigmoid at {x}");
            let (y, d) = softplus_backward(x, 1.5);
            assert_eq!(y, softplus(x));
            assert!(
                (d - 1.5 * slope(softplus, x)).abs() < 1e-8,
                "softplus at {x}"
            );
            let (y, d) = relu_backward(x, 3.0);
            assert_eq!(y, relu(x));
            assert!((d - 3.0 * slope(relu, x)).abs() < 1e-8, "relu at {x}");
        }
    }

    #[test]
    fn softplus_is_stable_for_large_inputs() {
        assert_eq!(softplus(1000.0f64), 1000.0);
        assert!(softplus(-1000.0f64) >= 0.0 && softplus(-1000.0f64) < 1e-300);
        assert!((softplus(0.0f64) - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn non_finite_inputs_propagate_instead_of_panicking() {
        assert!(sigmoid_backward(f64::NAN, 1.0).1.is_nan());
        assert!(relu_backward(f64::NAN, 1.0).1.is_nan());
        assert_eq!(relu_backward(f64::INFINITY, 1.0).1, 1.0);
        assert_eq!(sigmoid_backward(f64::INFINITY, 1.0), (1.0, 0.0));
    }
}
