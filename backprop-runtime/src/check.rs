//! Gradient checking: numeric gradients by central differences, the notes' relative error,
//! and [`check_gradient`] / [`assert_gradient!`](crate::assert_gradient) for users' own tests.
//!
//! The comparison itself is `approx::relative_eq!`, with an absolute floor so that components
//! that are (nearly) zero in both gradients do not fail on rounding noise.

use std::fmt;

use num_traits::Float;

/// A float type the checking helpers work with: `f32` or `f64`, with tolerances suited to it.
pub trait Real:
    Float + fmt::Debug + fmt::Display + fmt::LowerExp + approx::RelativeEq<Epsilon = Self>
{
    /// Largest accepted relative error of one gradient component.
    const DEFAULT_MAX_RELATIVE: Self;
    /// Absolute difference below which two components are equal whatever their relative error
    /// (central differences of components that are zero are pure rounding noise).
    const DEFAULT_ABSOLUTE: Self;
}

impl Real for f64 {
    const DEFAULT_MAX_RELATIVE: f64 = 1e-6;
    const DEFAULT_ABSOLUTE: f64 = 1e-8;
}

impl Real for f32 {
    const DEFAULT_MAX_RELATIVE: f32 = 1e-2;
    const DEFAULT_ABSOLUTE: f32 = 1e-3;
}

/// The relative error of the notes, |a − b| / max(|a|, |b|), and 0 when both are 0.
pub fn relative_error<F: Float>(a: F, b: F) -> F {
    let scale = a.abs().max(b.abs());
    if scale == F::zero() {
        F::zero()
    } else {
        (a - b).abs() / scale
    }
}

/// The gradient of `f` at `at` by central differences, (f(x + h) − f(x − h)) / 2h per
/// component, with h = ε^(1/3) · max(1, |xᵢ|) (the step that balances truncation and rounding
/// error: about 6e-6 for f64 and 5e-3 for f32 near 1).
pub fn numeric_gradient<F: Float>(mut f: impl FnMut(&[F]) -> F, at: &[F]) -> Vec<F> {
    let mut point = at.to_vec();
    let base_step = F::epsilon().cbrt();
    (0..at.len())
        .map(|i| {
            let x = at[i];
            let h = base_step * x.abs().max(F::one());
            point[i] = x + h;
            let up = f(&point);
            point[i] = x - h;
            let down = f(&point);
            point[i] = x;
            (up - down) / (h + h)
        })
        .collect()
}

/// Anything a generated `f_grad` returns, flattened to one list of components in order:
/// scalars, arrays, `Vec`s and tuples of these (one entry per differentiable parameter).
pub trait Gradient<F> {
    /// Appends the components, in order, to `out`.
    fn flatten_into(&self, out: &mut Vec<F>);

    /// The components, in order.
    fn flatten(&self) -> Vec<F> {
        let mut out = Vec::new();
        self.flatten_into(&mut out);
        out
    }
}

macro_rules! gradient_for_float {
    ($($f:ty),*) => {$(
        impl Gradient<$f> for $f {
            fn flatten_into(&self, out: &mut Vec<$f>) {
                out.push(*self);
            }
        }
    )*};
}
gradient_for_float!(f32, f64);

impl<F, T: Gradient<F>, const N: usize> Gradient<F> for [T; N] {
    fn flatten_into(&self, out: &mut Vec<F>) {
        self.iter().for_each(|t| t.flatten_into(out));
    }
}

impl<F, T: Gradient<F>> Gradient<F> for [T] {
    fn flatten_into(&self, out: &mut Vec<F>) {
        self.iter().for_each(|t| t.flatten_into(out));
    }
}

impl<F, T: Gradient<F>> Gradient<F> for Vec<T> {
    fn flatten_into(&self, out: &mut Vec<F>) {
        self.as_slice().flatten_into(out);
    }
}

impl<F, T: Gradient<F> + ?Sized> Gradient<F> for &T {
    fn flatten_into(&self, out: &mut Vec<F>) {
        (**self).flatten_into(out);
    }
}

macro_rules! gradient_for_tuple {
    ($($t:ident $i:tt),*) => {
        impl<F, $($t: Gradient<F>),*> Gradient<F> for ($($t,)*) {
            fn flatten_into(&self, out: &mut Vec<F>) {
                $(self.$i.flatten_into(out);)*
            }
        }
    };
}
gradient_for_tuple!(A 0);
gradient_for_tuple!(A 0, B 1);
gradient_for_tuple!(A 0, B 1, C 2);
gradient_for_tuple!(A 0, B 1, C 2, D 3);
gradient_for_tuple!(A 0, B 1, C 2, D 3, E 4);
gradient_for_tuple!(A 0, B 1, C 2, D 3, E 4, G 5);
gradient_for_tuple!(A 0, B 1, C 2, D 3, E 4, G 5, H 6);
gradient_for_tuple!(A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7);

/// One component of a [`GradientCheck`].
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentCheck<F> {
    /// The component's analytic value (what the code under test computed).
    pub analytic: F,
    /// The central-difference estimate.
    pub numeric: F,
    /// `relative_error(analytic, numeric)`.
    pub relative_error: F,
    /// Whether the two agree within the check's tolerances.
    pub ok: bool,
}

/// The result of [`check_gradient`]: one row per component, printable as a table.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck<F> {
    /// One entry per component, in the order of [`Gradient::flatten`].
    pub components: Vec<ComponentCheck<F>>,
    /// The largest accepted relative error.
    pub max_relative: F,
    /// The absolute difference below which components always agree.
    pub absolute: F,
    /// Set when the analytic gradient has a different number of components than the point.
    pub length_mismatch: Option<(usize, usize)>,
}

impl<F: Real> GradientCheck<F> {
    /// True when every component agrees and the lengths match.
    pub fn passed(&self) -> bool {
        self.length_mismatch.is_none() && self.components.iter().all(|c| c.ok)
    }

    /// The largest relative error over all components (0 for an empty gradient).
    pub fn max_relative_error(&self) -> F {
        self.components
            .iter()
            .map(|c| c.relative_error)
            .fold(F::zero(), F::max)
    }

    /// Uses other tolerances, re-judging every component.
    pub fn with_tolerance(mut self, max_relative: F, absolute: F) -> Self {
        self.max_relative = max_relative;
        self.absolute = absolute;
        for c in &mut self.components {
            c.ok = agrees(c.analytic, c.numeric, max_relative, absolute);
        }
        self
    }
}

fn agrees<F: Real>(analytic: F, numeric: F, max_relative: F, absolute: F) -> bool {
    approx::relative_eq!(
        analytic,
        numeric,
        epsilon = absolute,
        max_relative = max_relative
    )
}

impl<F: Real> fmt::Display for GradientCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((analytic, point)) = self.length_mismatch {
            writeln!(
                f,
                "the analytic gradient has {analytic} components but the point has {point}"
            )?;
        }
        writeln!(
            f,
            "{:>5}  {:>24}  {:>24}  {:>12}",
            "i", "analytic", "numeric", "rel. error"
        )?;
        for (i, c) in self.components.iter().enumerate() {
            let mark = if c.ok { "" } else { "  <-- mismatch" };
            writeln!(
                f,
                "{i:>5}  {:>24.16e}  {:>24.16e}  {:>12.3e}{mark}",
                c.analytic, c.numeric, c.relative_error
            )?;
        }
        write!(
            f,
            "max relative error {:.3e} (tolerance {:.1e}, absolute floor {:.1e})",
            self.max_relative_error(),
            self.max_relative,
            self.absolute
        )
    }
}

/// Compares `analytic` (for example the `.1` of an `f_grad` call) with the central-difference
/// gradient of `f` at `at`, using the default tolerances of `F`.
///
/// `f` takes the flattened point: for `fn f(x: f64, w: [f64; 2])` write
/// `|p| f(p[0], [p[1], p[2]])`.
pub fn check_gradient<F: Real, G: Gradient<F> + ?Sized>(
    f: impl FnMut(&[F]) -> F,
    at: &[F],
    analytic: &G,
) -> GradientCheck<F> {
    let analytic = analytic.flatten();
    let numeric = numeric_gradient(f, at);
    let length_mismatch =
        (analytic.len() != numeric.len()).then_some((analytic.len(), numeric.len()));
    let components = analytic
        .iter()
        .zip(&numeric)
        .map(|(&a, &n)| ComponentCheck {
            analytic: a,
            numeric: n,
            relative_error: relative_error(a, n),
            ok: agrees(a, n, F::DEFAULT_MAX_RELATIVE, F::DEFAULT_ABSOLUTE),
        })
        .collect();
    GradientCheck {
        components,
        max_relative: F::DEFAULT_MAX_RELATIVE,
        absolute: F::DEFAULT_ABSOLUTE,
        length_mismatch,
    }
}

/// Asserts that an analytic gradient matches central differences, printing the whole
/// comparison table when it does not.
///
/// ```
/// use backprop_runtime::assert_gradient;
/// fn f(x: f64, y: f64) -> f64 { x * y + x.sin() }
/// let analytic = (3.0f64 + 2.0f64.cos(), 2.0);          // (df/dx, df/dy) at (2, 3)
/// assert_gradient!(|p: &[f64]| f(p[0], p[1]), &[2.0, 3.0], &analytic);
/// // Tolerances can be given: the largest relative error, then the absolute floor.
/// assert_gradient!(|p: &[f64]| f(p[0], p[1]), &[2.0, 3.0], &analytic, 1e-8, 1e-10);
/// ```
#[macro_export]
macro_rules! assert_gradient {
    ($f:expr, $at:expr, $analytic:expr $(,)?) => {{
        let check = $crate::check_gradient($f, $at, $analytic);
        if !check.passed() {
            ::core::panic!("gradient check failed at {:?}\n{}", $at, check);
        }
    }};
    ($f:expr, $at:expr, $analytic:expr, $max_relative:expr, $absolute:expr $(,)?) => {{
        let check =
            $crate::check_gradient($f, $at, $analytic).with_tolerance($max_relative, $absolute);
        if !check.passed() {
            ::core::panic!("gradient check failed at {:?}\n{}", $at, check);
        }
    }};
}

/// The derivative of `f` at `at` in the direction `t` by a central difference, each output
/// component: (f(x + h t) − f(x − h t)) / 2h, with h = ε^(1/3) · max(1, ‖x‖∞) / max(1, ‖t‖∞).
pub fn numeric_directional<F: Float, O: Gradient<F>>(
    mut f: impl FnMut(&[F]) -> O,
    at: &[F],
    t: &[F],
) -> Vec<F> {
    let norm = |v: &[F]| v.iter().fold(F::one(), |m, x| m.max(x.abs()));
    let h = F::epsilon().cbrt() * norm(at) / norm(t);
    let moved = |s: F| -> Vec<F> { at.iter().zip(t).map(|(&x, &t)| x + s * t).collect() };
    let up = f(&moved(h)).flatten();
    let down = f(&moved(-h)).flatten();
    up.iter()
        .zip(&down)
        .map(|(&u, &d)| (u - d) / (h + h))
        .collect()
}

fn compare<F: Real>(analytic: Vec<F>, numeric: Vec<F>) -> GradientCheck<F> {
    let length_mismatch =
        (analytic.len() != numeric.len()).then_some((analytic.len(), numeric.len()));
    let components = analytic
        .iter()
        .zip(&numeric)
        .map(|(&a, &n)| ComponentCheck {
            analytic: a,
            numeric: n,
            relative_error: relative_error(a, n),
            ok: agrees(a, n, F::DEFAULT_MAX_RELATIVE, F::DEFAULT_ABSOLUTE),
        })
        .collect();
    GradientCheck {
        components,
        max_relative: F::DEFAULT_MAX_RELATIVE,
        absolute: F::DEFAULT_ABSOLUTE,
        length_mismatch,
    }
}

/// Compares a Jacobian–vector product (the `.1` of an `f_jvp` call: a float or an array) with
/// the central difference of `f` at `at` in the direction `t`, component by component of the
/// output. `f` takes the flattened point, as for [`check_gradient`], and returns the output.
pub fn check_jvp<F: Real, O: Gradient<F>, J: Gradient<F> + ?Sized>(
    f: impl FnMut(&[F]) -> O,
    at: &[F],
    t: &[F],
    analytic: &J,
) -> GradientCheck<F> {
    compare(analytic.flatten(), numeric_directional(f, at, t))
}

/// Compares a Hessian–vector product (the `.2` of an `f_hvp` call) with central differences of
/// the gradient in the direction `v`. `gradient` takes the flattened point and returns the
/// gradient (for example `|p| f_grad(p[0], p[1]).1`).
pub fn check_hvp<F: Real, G: Gradient<F>, H: Gradient<F> + ?Sized>(
    gradient: impl FnMut(&[F]) -> G,
    at: &[F],
    v: &[F],
    analytic: &H,
) -> GradientCheck<F> {
    compare(analytic.flatten(), numeric_directional(gradient, at, v))
}

/// [`assert_gradient!`](crate::assert_gradient) for a Jacobian–vector product: `f_jvp`'s
/// tangent against the central difference in the direction `t`, the table printed on failure.
///
/// ```
/// use backprop_runtime::assert_jvp;
/// fn f(x: f64, y: f64) -> [f64; 2] { [x * y, x.sin()] }
/// let (at, t) = ([2.0, 3.0], [1.0, -0.5]);
/// let jvp = [3.0 * 1.0 + 2.0 * -0.5, 2.0f64.cos()];   // J·t at (2, 3)
/// assert_jvp!(|p: &[f64]| f(p[0], p[1]), &at, &t, &jvp);
/// ```
#[macro_export]
macro_rules! assert_jvp {
    ($f:expr, $at:expr, $t:expr, $analytic:expr $(,)?) => {{
        let check = $crate::check_jvp($f, $at, $t, $analytic);
        if !check.passed() {
            ::core::panic!(
                "JVP check failed at {:?} in the direction {:?}\n{}",
                $at,
                $t,
                check
            );
        }
    }};
    ($f:expr, $at:expr, $t:expr, $analytic:expr, $max_relative:expr, $absolute:expr $(,)?) => {{
        let check =
            $crate::check_jvp($f, $at, $t, $analytic).with_tolerance($max_relative, $absolute);
        if !check.passed() {
            ::core::panic!(
                "JVP check failed at {:?} in the direction {:?}\n{}",
                $at,
                $t,
                check
            );
        }
    }};
}

/// [`assert_gradient!`](crate::assert_gradient) for a Hessian–vector product: `f_hvp`'s `H·v`
/// against central differences of the gradient in the direction `v`.
///
/// ```
/// use backprop_runtime::assert_hvp;
/// // f(x, y) = x² y: ∇f = (2xy, x²), H = [[2y, 2x], [2x, 0]].
/// let gradient = |p: &[f64]| vec![2.0 * p[0] * p[1], p[0] * p[0]];
/// let (at, v) = ([1.5, -2.0], [1.0, 2.0]);
/// let hv = [2.0 * -2.0 * 1.0 + 2.0 * 1.5 * 2.0, 2.0 * 1.5 * 1.0];
/// assert_hvp!(gradient, &at, &v, &hv);
/// ```
#[macro_export]
macro_rules! assert_hvp {
    ($gradient:expr, $at:expr, $v:expr, $analytic:expr $(,)?) => {{
        let check = $crate::check_hvp($gradient, $at, $v, $analytic);
        if !check.passed() {
            ::core::panic!(
                "HVP check failed at {:?} in the direction {:?}\n{}",
                $at,
                $v,
                check
            );
        }
    }};
    ($gradient:expr, $at:expr, $v:expr, $analytic:expr, $max_relative:expr, $absolute:expr $(,)?) => {{
        let check = $crate::check_hvp($gradient, $at, $v, $analytic)
            .with_tolerance($max_relative, $absolute);
        if !check.passed() {
            ::core::panic!(
                "HVP check failed at {:?} in the direction {:?}\n{}",
                $at,
                $v,
                check
            );
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_the_notes_definition() {
        assert_eq!(relative_error(0.0f64, 0.0), 0.0);
        assert_eq!(relative_error(1.0f64, 2.0), 0.5);
        assert_eq!(relative_error(-1.0f64, 1.0), 2.0);
    }

    #[test]
    fn numeric_gradient_of_a_quadratic_is_close_to_exact() {
        // f(x, y) = x² y + 3y, ∇f = (2xy, x² + 3)
        let g = numeric_gradient(|p: &[f64]| p[0] * p[0] * p[1] + 3.0 * p[1], &[1.5, -2.0]);
        assert!((g[0] - (-6.0)).abs() < 1e-8);
        assert!((g[1] - 5.25).abs() < 1e-8);
        let g32 = numeric_gradient(|p: &[f32]| p[0] * p[0], &[3.0f32]);
        assert!((g32[0] - 6.0).abs() < 1e-2);
    }

    #[test]
    fn check_reports_mismatches_and_lengths() {
        let f = |p: &[f64]| p[0] * p[1];
        let good = check_gradient(f, &[2.0, 3.0], &(3.0, 2.0));
        assert!(good.passed(), "{good}");
        let bad = check_gradient(f, &[2.0, 3.0], &(3.0, 2.5));
        assert!(!bad.passed());
        assert!(bad.to_string().contains("mismatch"));
        let short = check_gradient(f, &[2.0, 3.0], &3.0);
        assert_eq!(short.length_mismatch, Some((1, 2)));
        assert!(!short.passed());
    }

    #[test]
    fn gradients_of_every_shape_flatten_in_order() {
        let g = (1.0f64, [2.0, 3.0], vec![4.0]);
        assert_eq!(g.flatten(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn jvp_and_hvp_checks() {
        // f(x, y) = (x y, x²): J·t = (t_x y + x t_y, 2 x t_x).
        let f = |p: &[f64]| vec![p[0] * p[1], p[0] * p[0]];
        let good = check_jvp(f, &[2.0, 3.0], &[1.0, -1.0], &vec![1.0, 4.0]);
        assert!(good.passed(), "{good}");
        let bad = check_jvp(f, &[2.0, 3.0], &[1.0, -1.0], &vec![1.0, 4.5]);
        assert!(!bad.passed());
        // g(x, y) = x² y: H·v = (2y v_x + 2x v_y, 2x v_x).
        let gradient = |p: &[f64]| (2.0 * p[0] * p[1], p[0] * p[0]);
        let hv = check_hvp(gradient, &[1.0, 2.0], &[0.5, 1.0], &(4.0, 1.0));
        assert!(hv.passed(), "{hv}");
    }

    #[test]
    #[should_panic(expected = "gradient check failed")]
    fn assert_gradient_panics_with_the_table() {
        assert_gradient!(|p: &[f64]| p[0] * p[0], &[1.0], &3.0);
    }
}
