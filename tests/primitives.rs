//! Every primitive of the rule table, in f64 and f32, at several points, against forward-mode
//! dual numbers (num-dual) and against central differences.
//!
//! Each case writes the primitive once for `#[backprop]` and once as the reference on dual
//! numbers; num-dual lacks a few piecewise functions (abs, max, hypot, ...), whose references
//! are written out with the dual's real part deciding the branch.

// The references of `to_degrees`/`to_radians` spell the constants out for both f32 and f64.
#![allow(clippy::excessive_precision)]

mod common;

use backprop::backprop;
use common::{assert_gradient_exact, c, dual_gradient};
use num_dual::{Dual32, Dual64, DualNum};

/// `case!(name, |x, ..| body, |dual x, ..| reference, [points])`: a module with the f64 and
/// f32 versions and one test per float type.
macro_rules! case {
    ($name:ident, |$($x:ident),+| $body:expr, |$($dx:ident),+| $reference:expr, [$([$($p:expr),+]),+ $(,)?]) => {
        mod $name {
            use super::*;

            #[backprop]
            fn in_f64($($x: f64),+) -> f64 {
                $body
            }

            #[backprop]
            fn in_f32($($x: f32),+) -> f32 {
                $body
            }

            // Written twice so that the reference's float literals take each type.
            fn reference_f64(args: &[Dual64]) -> Dual64 {
                let [$($dx),+] = args else { unreachable!() };
                let ($($dx,)+) = ($(*$dx,)+);
                $reference
            }

            fn reference_f32(args: &[Dual32]) -> Dual32 {
                let [$($dx),+] = args else { unreachable!() };
                let ($($dx,)+) = ($(*$dx,)+);
                $reference
            }

            #[test]
            fn f64_matches_dual_numbers_and_central_differences() {
                for at in [$([$($p as f64),+]),+] {
                    let [$($x),+] = at;
                    assert_gradient_exact(
                        concat!(stringify!($name), " (f64)"),
                        &at,
                        in_f64_grad($($x),+),
                        dual_gradient(reference_f64, &at),
                        |p: &[f64]| { let [$($x),+] = p else { unreachable!() }; in_f64($(*$x),+) },
                        1e-13,
                    );
                }
            }

            #[test]
            fn f32_matches_dual_numbers_and_central_differences() {
                for at in [$([$($p as f32),+]),+] {
                    let [$($x),+] = at;
                    assert_gradient_exact(
                        concat!(stringify!($name), " (f32)"),
                        &at,
                        in_f32_grad($($x),+),
                        dual_gradient(reference_f32, &at),
                        |p: &[f32]| { let [$($x),+] = p else { unreachable!() }; in_f32($(*$x),+) },
                        1e-5,
                    );
                }
            }
        }
    };
}

// Operators.
case!(add, |a, b| a + b, |a, b| a + b, [[0.5, -2.0], [3.0, 4.0]]);
case!(sub, |a, b| a - b, |a, b| a - b, [[0.5, -2.0], [3.0, 4.0]]);
case!(mul, |a, b| a * b, |a, b| a * b, [[0.5, -2.0], [3.0, 4.0]]);
case!(div, |a, b| a / b, |a, b| a / b, [[0.5, -2.0], [3.0, 4.0]]);
case!(
    rem,
    |a, b| a % b,
    |a, b| a - b * (a / b).re.trunc(),
    [[5.5, 2.0], [-7.25, 3.0]]
);
case!(neg, |a| -a, |a| -a, [[0.5], [-3.0]]);
case!(
    constant_operands,
    |a| 2.0 * a - 3.0 / a + a / 4.0,
    |a| a * 2.0 - a.recip() * 3.0 + a / 4.0,
    [[0.5], [-3.0]]
);
case!(
    sigmoid_idiom,
    |a| 1.0 / (1.0 + (-a).exp()),
    |a| (c(1.0) + (-a).exp()).recip(),
    [[0.5], [-3.0], [4.0]]
);

// Exponentials and logarithms.
case!(exp, |a| a.exp(), |a| a.exp(), [[0.5], [-3.0], [2.0]]);
case!(exp2, |a| a.exp2(), |a| a.exp2(), [[0.5], [-3.0]]);
case!(exp_m1, |a| a.exp_m1(), |a| a.exp_m1(), [[0.5], [-3.0]]);
case!(ln, |a| a.ln(), |a| a.ln(), [[0.5], [3.0]]);
case!(ln_1p, |a| a.ln_1p(), |a| a.ln_1p(), [[0.5], [3.0]]);
case!(
    log,
    |a, b| a.log(b),
    |a, b| a.ln() / b.ln(),
    [[0.5, 3.0], [8.0, 2.0]]
);
case!(log2, |a| a.log2(), |a| a.log2(), [[0.5], [3.0]]);
case!(log10, |a| a.log10(), |a| a.log10(), [[0.5], [30.0]]);

// Powers and roots.
case!(sqrt, |a| a.sqrt(), |a| a.sqrt(), [[0.5], [3.0]]);
case!(cbrt, |a| a.cbrt(), |a| a.cbrt(), [[0.5], [-3.0]]);
case!(powi_2, |a| a.powi(2), |a| a.powi(2), [[0.5], [-3.0]]);
case!(powi_3, |a| a.powi(3), |a| a.powi(3), [[0.5], [-3.0]]);
case!(
    powi_negative,
    |a| a.powi(-2),
    |a| a.powi(-2),
    [[0.5], [-3.0]]
);
case!(powi_1, |a| a.powi(1), |a| a.powi(1), [[0.5]]);
case!(
    powf,
    |a, b| a.powf(b),
    |a, b| a.powd(b),
    [[0.5, 2.5], [3.0, -1.5]]
);
case!(
    powf_constant_exponent,
    |a| a.powf(1.5),
    |a| a.powf(1.5),
    [[0.5], [3.0]]
);
case!(
    powf_constant_base,
    |a| 2.0.powf(a),
    |a| c(2.0).powd(a),
    [[0.5], [-1.0]]
);
case!(recip, |a| a.recip(), |a| a.recip(), [[0.5], [-3.0]]);

// Trigonometric and hyperbolic.
case!(sin, |a| a.sin(), |a| a.sin(), [[0.5], [-3.0]]);
case!(cos, |a| a.cos(), |a| a.cos(), [[0.5], [-3.0]]);
case!(tan, |a| a.tan(), |a| a.tan(), [[0.5], [-3.0]]);
case!(asin, |a| a.asin(), |a| a.asin(), [[0.5], [-0.3]]);
case!(acos, |a| a.acos(), |a| a.acos(), [[0.5], [-0.3]]);
case!(atan, |a| a.atan(), |a| a.atan(), [[0.5], [-3.0]]);
case!(
    atan2,
    |a, b| a.atan2(b),
    |a, b| a.atan2(b),
    [[0.5, 2.0], [-3.0, -1.0]]
);
case!(sinh, |a| a.sinh(), |a| a.sinh(), [[0.5], [-3.0]]);
case!(cosh, |a| a.cosh(), |a| a.cosh(), [[0.5], [-3.0]]);
case!(tanh, |a| a.tanh(), |a| a.tanh(), [[0.5], [-3.0]]);
case!(asinh, |a| a.asinh(), |a| a.asinh(), [[0.5], [-3.0]]);
case!(acosh, |a| a.acosh(), |a| a.acosh(), [[1.5], [3.0]]);
case!(atanh, |a| a.atanh(), |a| a.atanh(), [[0.5], [-0.3]]);
case!(
    to_degrees,
    |a| a.to_degrees(),
    |a| a * 57.295_779_513_082_32,
    [[0.5]]
);
case!(
    to_radians,
    |a| a.to_radians(),
    |a| a * 0.017453292519943295,
    [[30.0]]
);

// Piecewise: routed or zero gradients (points away from the kinks).
case!(
    abs,
    |a| a.abs(),
    |a| if a.re < 0.0 { -a } else { a },
    [[0.5], [-3.0]]
);
case!(
    hypot,
    |a, b| a.hypot(b),
    |a, b| (a * a + b * b).sqrt(),
    [[3.0, 4.0], [-1.0, 0.5]]
);
case!(
    max,
    |a, b| a.max(b),
    |a, b| if a.re >= b.re { a } else { b },
    [[3.0, 4.0], [-1.0, -2.0]]
);
case!(
    min,
    |a, b| a.min(b),
    |a, b| if a.re <= b.re { a } else { b },
    [[3.0, 4.0], [-1.0, -2.0]]
);
case!(
    clamp,
    |a, lo, hi| a.clamp(lo, hi),
    |a, lo, hi| if a.re < lo.re {
        lo
    } else if a.re > hi.re {
        hi
    } else {
        a
    },
    [[0.5, -1.0, 1.0], [-3.0, -1.0, 1.0], [3.0, -1.0, 1.0]]
);
case!(
    mul_add,
    |a, b, k| a.mul_add(b, k),
    |a, b, k| a * b + k,
    [[0.5, -2.0, 3.0], [3.0, 4.0, -1.0]]
);
case!(
    floor,
    |a| a.floor() * a,
    |a| a * a.re.floor(),
    [[2.5], [-3.5]]
);
case!(ceil, |a| a.ceil() * a, |a| a * a.re.ceil(), [[2.5], [-3.5]]);
case!(
    round,
    |a| a.round() * a,
    |a| a * a.re.round(),
    [[2.25], [-3.75]]
);
case!(
    trunc,
    |a| a.trunc() * a,
    |a| a * a.re.trunc(),
    [[2.5], [-3.5]]
);
case!(
    signum,
    |a| a.signum() * a,
    |a| a * a.re.signum(),
    [[2.5], [-3.5]]
);
case!(
    fract,
    |a| a.fract(),
    |a| a - a.re.trunc(),
    [[2.25], [-3.75]]
);
