//! Gates with hand-written backward passes.
//!
//! Each gate is a pair, the paired forward/backward API of the lecture notes: `g(x)` computes
//! the value, and `g_backward(x, d_out)` returns `(g(x), d_out * g'(x))`. That is the same
//! contract `#[backprop]` generates for user functions, so the macro needs no special case for
//! these: a call `backprop::sigmoid(x)` in a forward body is differentiated by a call to
//! `backprop::sigmoid_backward(x, d)`.
//!
//! The elementwise gates take a scalar (`f32`, `f64`) or, with the `ndarray` feature, a
//! reference to an array or view (returning a new array) or an owned array (computed in its
//! buffer), taking the upstream gradient by value (an owned array of the output's shape, the
//! contract of every `_backward` with an array output): see [`Elementwise`].

use num_traits::{Float, One, Zero};

/// A scalar, a reference to an array, or an owned array: what an elementwise gate applies to.
///
/// An owned array lends its buffer to the result, as the notes' in-place `np.maximum(0, h,
/// out=h)`: generated code hands over an array that nothing reads afterwards.
pub trait Elementwise: Sized {
    /// The element type.
    type Elem: Float;
    /// The gate's value: the same scalar, or an owned array of the same shape.
    type Output;
    /// The upstream gradient the backward takes: the scalar, or an owned array (whose buffer
    /// then holds the downstream gradient).
    type Upstream<'d>
    where
        Self: 'd;

    /// `f` applied to every element.
    fn map_elements(self, f: impl Fn(Self::Elem) -> Self::Elem) -> Self::Output;

    /// `f(x, d)` applied to every element and its upstream gradient, returning the values and
    /// the downstream gradients.
    fn map_backward(
        self,
        d_out: Self::Upstream<'_>,
        f: impl Fn(Self::Elem, Self::Elem) -> (Self::Elem, Self::Elem),
    ) -> (Self::Output, Self::Output);
}

macro_rules! elementwise_scalar {
    ($($f:ty),*) => {$(
        impl Elementwise for $f {
            type Elem = $f;
            type Output = $f;
            type Upstream<'d> = $f where Self: 'd;

            fn map_elements(self, f: impl Fn($f) -> $f) -> $f {
                f(self)
            }

            fn map_backward(self, d_out: $f, f: impl Fn($f, $f) -> ($f, $f)) -> ($f, $f) {
                f(self, d_out)
            }
        }
    )*};
}
elementwise_scalar!(f32, f64);

/// The arrays: a reference or a view (the values go into a new array), and an owned array (the
/// values go into its own buffer). `map_elements` is the one pass that makes the new array, or
/// the in-place pass; the backward pass writes the values over the array
/// [`ArrayInput::into_array`](crate::tensor::ArrayInput) gives (a copy, or the buffer itself).
#[cfg(feature = "ndarray")]
macro_rules! elementwise_array {
    ($([$($generics:tt)*] $array:ty => $map:ident;)*) => {$(
        impl<$($generics)*> Elementwise for $array
        where
            F: Float,
            D: ndarray::Dimension,
        {
            type Elem = F;
            type Output = ndarray::Array<F, D>;
            type Upstream<'d>
                = ndarray::Array<F, D>
            where
                Self: 'd;

            fn map_elements(self, f: impl Fn(F) -> F) -> Self::Output {
                self.$map(f)
            }

            fn map_backward(
                self,
                d_out: ndarray::Array<F, D>,
                f: impl Fn(F, F) -> (F, F),
            ) -> (Self::Output, Self::Output) {
                let mut value = crate::tensor::ArrayInput::into_array(self);
                let mut grad = d_out;
                ndarray::Zip::from(&mut value)
                    .and(&mut grad)
                    .for_each(|v, g| {
                        (*v, *g) = f(*v, *g);
                    });
                (value, grad)
            }
        }
    )*};
}

#[cfg(feature = "ndarray")]
elementwise_array! {
    [F, S: ndarray::Data<Elem = F>, D] &ndarray::ArrayBase<S, D> => mapv;
    [F, D] ndarray::ArrayView<'_, F, D> => mapv;
    [F, D] ndarray::Array<F, D> => mapv_into;
}

fn sigmoid_scalar<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        // e^x / (1 + e^x): the same value, but e^(−x) would overflow to infinity here.
        let e = x.exp();
        e / (F::one() + e)
    }
}

fn softplus_scalar<F: Float>(x: F) -> F {
    // ln(1 + e^x) = max(x, 0) + ln(1 + e^(−|x|)) never overflows.
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

/// The logistic sigmoid σ(x) = 1 / (1 + e^(−x)), computed without overflow for large |x|.
pub fn sigmoid<X: Elementwise>(x: X) -> X::Output {
    x.map_elements(sigmoid_scalar)
}

/// Backward of [`sigmoid`]: σ'(x) = (1 − σ(x)) σ(x), reusing the forward value.
pub fn sigmoid_backward<X: Elementwise>(x: X, d_out: X::Upstream<'_>) -> (X::Output, X::Output) {
    x.map_backward(d_out, |x, d| {
        let s = sigmoid_scalar(x);
        (s, (X::Elem::one() - s) * s * d)
    })
}

/// The rectified linear unit max(0, x); NaN stays NaN (as numpy's `np.maximum(0, x)`), so
/// its value alone tells where the gradient flows.
pub fn relu<X: Elementwise>(x: X) -> X::Output {
    x.map_elements(|x| {
        if x > X::Elem::zero() || x.is_nan() {
            x
        } else {
            X::Elem::zero()
        }
    })
}

/// Backward of [`relu`]: the max gate routes the upstream gradient to `x` where `x > 0`.
///
/// At `x == 0` the subgradient 0 is used, the usual convention; NaN stays NaN.
pub fn relu_backward<X: Elementwise>(x: X, d_out: X::Upstream<'_>) -> (X::Output, X::Output) {
    x.map_backward(d_out, |x, d| {
        if x > X::Elem::zero() {
            (x, d)
        } else if x.is_nan() {
            (x, x)
        } else {
            (X::Elem::zero(), X::Elem::zero())
        }
    })
}

/// The softplus ln(1 + e^x), a smooth ReLU, computed stably for large |x|.
pub fn softplus<X: Elementwise>(x: X) -> X::Output {
    x.map_elements(softplus_scalar)
}

/// Backward of [`softplus`]: its derivative is σ(x).
pub fn softplus_backward<X: Elementwise>(x: X, d_out: X::Upstream<'_>) -> (X::Output, X::Output) {
    x.map_backward(d_out, |x, d| (softplus_scalar(x), sigmoid_scalar(x) * d))
}

/// Forward mode of [`sigmoid`]: `(σ(x), σ'(x) · t)`. An elementwise gate's Jacobian is
/// diagonal, so its tangent is its backward applied to the tangent; the naming rule of
/// `#[backprop(jvp)]` (`g_jvp` for a call of `g`).
pub fn sigmoid_jvp<X: Elementwise>(x: X, t: X::Upstream<'_>) -> (X::Output, X::Output) {
    sigmoid_backward(x, t)
}

/// Forward mode of [`relu`]: `(relu(x), t` where `x > 0`, else `0)`.
pub fn relu_jvp<X: Elementwise>(x: X, t: X::Upstream<'_>) -> (X::Output, X::Output) {
    relu_backward(x, t)
}

/// Forward mode of [`softplus`]: `(softplus(x), σ(x) · t)`.
pub fn softplus_jvp<X: Elementwise>(x: X, t: X::Upstream<'_>) -> (X::Output, X::Output) {
    softplus_backward(x, t)
}

/// `[σ(x), σ'(x) t]`: the tangent function of [`sigmoid`] on a scalar, which a caller with
/// `#[backprop(hvp)]` differentiates through [`sigmoid_hvp_tangent_backward`].
pub fn sigmoid_hvp_tangent<F: Float>(x: F, t: F) -> [F; 2] {
    let s = sigmoid_scalar(x);
    [s, s * (F::one() - s) * t]
}

/// Backward of [`sigmoid_hvp_tangent`]: with σ'' = σ'(1 − 2σ), `d_x = d₀ σ' + d₁ t σ''` and
/// `d_t = d₁ σ'`.
pub fn sigmoid_hvp_tangent_backward<F: Float>(x: F, t: F, d_out: [F; 2]) -> ([F; 2], (F, F)) {
    let s = sigmoid_scalar(x);
    let slope = s * (F::one() - s);
    let curvature = slope * (F::one() - (s + s));
    let [d0, d1] = d_out;
    (
        [s, slope * t],
        (d0 * slope + d1 * t * curvature, d1 * slope),
    )
}

/// `[relu(x), t` where `x > 0`, else `0]`: the tangent function of [`relu`] on a scalar.
pub fn relu_hvp_tangent<F: Float>(x: F, t: F) -> [F; 2] {
    if x > F::zero() {
        [x, t]
    } else {
        [F::zero(), F::zero()]
    }
}

/// Backward of [`relu_hvp_tangent`]: relu'' = 0, so `d_x = d₀ [x > 0]`, `d_t = d₁ [x > 0]`.
pub fn relu_hvp_tangent_backward<F: Float>(x: F, t: F, d_out: [F; 2]) -> ([F; 2], (F, F)) {
    let [d0, d1] = d_out;
    if x > F::zero() {
        ([x, t], (d0, d1))
    } else {
        ([F::zero(), F::zero()], (F::zero(), F::zero()))
    }
}

/// `[softplus(x), σ(x) t]`: the tangent function of [`softplus`] on a scalar.
pub fn softplus_hvp_tangent<F: Float>(x: F, t: F) -> [F; 2] {
    [softplus_scalar(x), sigmoid_scalar(x) * t]
}

/// Backward of [`softplus_hvp_tangent`]: softplus' = σ, softplus'' = σ(1 − σ).
pub fn softplus_hvp_tangent_backward<F: Float>(x: F, t: F, d_out: [F; 2]) -> ([F; 2], (F, F)) {
    let s = sigmoid_scalar(x);
    let [d0, d1] = d_out;
    (
        [softplus_scalar(x), s * t],
        (d0 * s + d1 * t * s * (F::one() - s), d1 * s),
    )
}

/// The gradient-only functions of the elementwise gates on arrays, which generated code calls
/// where the forward pass already holds the gate's value (its `_backward` would compute it
/// again).
#[cfg(feature = "ndarray")]
mod array_gradients {
    use crate::tensor::{Upstream, map_upstream};
    use ndarray::{Array, ArrayBase, Data, Dimension};
    use num_traits::Float;

    /// The gradient of [`relu`](crate::relu) on an array, without its value: `d` where `x > 0`,
    /// zero elsewhere, NaN where `x` is NaN (as [`relu_backward`](crate::relu_backward)). `x` may
    /// also be relu's value: it is positive, or NaN, exactly where `x` is.
    pub fn relu_grad<F, S, D>(x: &ArrayBase<S, D>, d_out: impl Upstream<F, D>) -> Array<F, D>
    where
        F: Float,
        S: Data<Elem = F>,
        D: Dimension,
    {
        map_upstream(d_out, x, |x, d| {
            if x.is_nan() {
                x
            } else if x <= F::zero() {
                F::zero()
            } else {
                d
            }
        })
    }

    /// The gradient of [`sigmoid`](crate::sigmoid) on an array from its value `y`: (1 − y) y d.
    pub fn sigmoid_grad<F, S, D>(y: &ArrayBase<S, D>, d_out: impl Upstream<F, D>) -> Array<F, D>
    where
        F: Float,
        S: Data<Elem = F>,
        D: Dimension,
    {
        map_upstream(d_out, y, |y, d| (F::one() - y) * y * d)
    }

    /// The gradient of [`softplus`](crate::softplus) on an array from its value `y`: σ(x) d, with σ(x) = 1 − e^(−y)
    /// (e^y = 1 + e^x), computed as `−expm1(−y)` so that it keeps its precision where `y` is tiny.
    pub fn softplus_grad<F, S, D>(y: &ArrayBase<S, D>, d_out: impl Upstream<F, D>) -> Array<F, D>
    where
        F: Float,
        S: Data<Elem = F>,
        D: Dimension,
    {
        map_upstream(d_out, y, |y, d| -(-y).exp_m1() * d)
    }
}
#[cfg(feature = "ndarray")]
pub use array_gradients::{relu_grad, sigmoid_grad, softplus_grad};

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
    fn hvp_tangent_backwards_match_central_differences() {
        for x in [-2.0, -0.3, 0.4, 1.7] {
            let t = 0.8;
            for (tangent, backward) in [
                (
                    sigmoid_hvp_tangent::<f64> as fn(f64, f64) -> [f64; 2],
                    sigmoid_hvp_tangent_backward::<f64>
                        as fn(f64, f64, [f64; 2]) -> ([f64; 2], (f64, f64)),
                ),
                (relu_hvp_tangent::<f64>, relu_hvp_tangent_backward::<f64>),
                (
                    softplus_hvp_tangent::<f64>,
                    softplus_hvp_tangent_backward::<f64>,
                ),
            ] {
                let d = [0.6, -1.3];
                let inner = |x: f64, t: f64| {
                    let v = tangent(x, t);
                    d[0] * v[0] + d[1] * v[1]
                };
                let (value, (dx, dt)) = backward(x, t, d);
                assert_eq!(value, tangent(x, t));
                assert!((dx - slope(|x| inner(x, t), x)).abs() < 1e-6);
                assert!((dt - slope(|t| inner(x, t), t)).abs() < 1e-6);
            }
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

    #[cfg(feature = "ndarray")]
    #[test]
    fn elementwise_gates_apply_to_arrays_and_views() {
        let x = ndarray::array![[-1.0, 0.5], [2.0, -3.0]];
        let d = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
        let (y, g) = sigmoid_backward(&x.view(), d.clone());
        assert_eq!(y, sigmoid(&x));
        for ((&xi, &di), &gi) in x.iter().zip(&d).zip(&g) {
            assert_eq!(gi, sigmoid_backward(xi, di).1);
        }
        let (_, g) = relu_backward(&x, d.clone());
        assert_eq!(g, ndarray::array![[0.0, 2.0], [3.0, 0.0]]);
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn owned_arrays_are_computed_in_their_own_buffer() {
        use ndarray::Array2;
        type ByValue = fn(Array2<f64>) -> Array2<f64>;
        type ByRef = fn(&Array2<f64>) -> Array2<f64>;
        let x = ndarray::array![[-1.0, 0.5], [2.0, f64::NAN]];
        let same_bits = |a: &Array2<f64>, b: &Array2<f64>| {
            a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
        };
        let gates: [(ByValue, ByRef); 3] = [
            (relu, |x| relu(x)),
            (sigmoid, |x| sigmoid(x)),
            (softplus, |x| softplus(x)),
        ];
        for (by_value, by_ref) in gates {
            let owned = x.clone();
            let buffer = owned.as_ptr();
            let y = by_value(owned);
            assert_eq!(y.as_ptr(), buffer, "computed in the argument's buffer");
            assert!(same_bits(&y, &by_ref(&x)));
        }
        let d = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
        let (y, g) = relu_backward(x.clone(), d.clone());
        let (y_ref, g_ref) = relu_backward(&x, d);
        assert!(same_bits(&y, &y_ref) && same_bits(&g, &g_ref));
        assert!(relu(f64::NAN).is_nan() && y[[1, 1]].is_nan());
        assert!(same_bits(&relu(x.t()), &relu(&x.t())));
    }
}
