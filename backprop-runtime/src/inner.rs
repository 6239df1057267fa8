//! The inner product of a gradient with a tangent, `⟨g, s⟩`, for every parameter type: what
//! the composed second-order companions (`g_jvp_jvp`, written from `g_hvp_tangent_backward`'s
//! gradients) sum. A float, `[F; N]`, `Vec<F>`, a slice and an ndarray array are each read as
//! their components in logical order.

use std::borrow::Cow;

use num_traits::Float;

/// A value read as its float components, in logical order (row-major for arrays).
pub trait Components<F: Clone> {
    /// The components, borrowed where the value holds them contiguously.
    fn components(&self) -> Cow<'_, [F]>;
}

macro_rules! float_components {
    ($($f:ty),*) => {$(
        impl Components<$f> for $f {
            fn components(&self) -> Cow<'_, [$f]> {
                Cow::Borrowed(std::slice::from_ref(self))
            }
        }
    )*};
}
float_components!(f32, f64);

impl<F: Clone> Components<F> for [F] {
    fn components(&self) -> Cow<'_, [F]> {
        Cow::Borrowed(self)
    }
}

impl<F: Clone, const N: usize> Components<F> for [F; N] {
    fn components(&self) -> Cow<'_, [F]> {
        Cow::Borrowed(self)
    }
}

impl<F: Clone> Components<F> for Vec<F> {
    fn components(&self) -> Cow<'_, [F]> {
        Cow::Borrowed(self)
    }
}

impl<F: Clone, T: Components<F> + ?Sized> Components<F> for &T {
    fn components(&self) -> Cow<'_, [F]> {
        (**self).components()
    }
}

#[cfg(feature = "ndarray")]
impl<F, S, D> Components<F> for ndarray::ArrayBase<S, D>
where
    F: Clone,
    S: ndarray::Data<Elem = F>,
    D: ndarray::Dimension,
{
    fn components(&self) -> Cow<'_, [F]> {
        match self.as_slice() {
            Some(slice) => Cow::Borrowed(slice),
            None => Cow::Owned(self.iter().cloned().collect()),
        }
    }
}

/// `⟨a, b⟩ = Σ aᵢ bᵢ` over the components of two values of the same shape (a gradient and a
/// tangent of one parameter, typed differently: `Vec<f64>` and `&[f64]`, `Array2<f64>` and
/// `ArrayView2<f64>`).
pub fn inner<F, A, B>(a: &A, b: &B) -> F
where
    F: Float,
    A: Components<F> + ?Sized,
    B: Components<F> + ?Sized,
{
    let (a, b) = (a.components(), b.components());
    debug_assert_eq!(
        a.len(),
        b.len(),
        "an inner product of values of different shapes"
    );
    a.iter()
        .zip(b.iter())
        .fold(F::zero(), |total, (&x, &y)| total + x * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_products_of_every_leaf_type() {
        assert_eq!(inner(&2.0f64, &3.0f64), 6.0);
        assert_eq!(inner(&vec![1.0f32, 2.0], &[3.0f32, 4.0][..]), 11.0);
        assert_eq!(inner(&[1.0, 2.0, 3.0], &&vec![1.0, 0.5, 0.25]), 2.75);
        #[cfg(feature = "ndarray")]
        {
            let a = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
            // A transposed view is read in its logical (row-major) order.
            let t = ndarray::array![[1.0, 0.0], [10.0, 100.0]];
            assert_eq!(inner(&a, &t.t()), 1.0 + 20.0 + 0.0 + 400.0);
        }
    }
}
