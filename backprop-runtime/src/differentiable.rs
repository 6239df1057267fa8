//! The [`Differentiable`] trait: what an optimiser or a gradient check needs from a value whose
//! entries are differentiated, and its implementations for the float leaves (`f32`, `f64`),
//! `[T; N]`, `Vec<T>` and, with the `ndarray` feature, `ndarray::Array<T, D>`.
//!
//! A struct gets it from `#[derive(backprop::Differentiable)]` (in `backprop-macro`), which
//! writes the three building blocks ([`Differentiable::flat_len`],
//! [`Differentiable::write_flat`], [`Differentiable::read_flat`]) field by field; the flat
//! conversions are provided on top of them, so that nested values compose.

use num_traits::Float;

/// A value whose entries are differentiated: a float, an array of them, or a struct of such
/// fields (`#[derive(backprop::Differentiable)]`). A gradient with respect to such a value has
/// the value's own type.
///
/// Its *differentiable entries* are its floats, in a fixed order: fields in declaration order,
/// arrays in logical row-major order (the order of ndarray's `iter()`, whatever the memory
/// layout). Fields marked `#[backprop(skip)]` are constants: they have no entries, are copied
/// by [`zeros_like`](Self::zeros_like) and [`from_flat`](Self::from_flat), and are left alone
/// by [`scaled_add`](Self::scaled_add).
///
/// ```
/// use backprop_runtime::Differentiable;
///
/// let mut w = vec![1.0_f64, 2.0];
/// let g = vec![0.5, -1.0];
/// w.scaled_add(-0.1, &g); // an SGD step: w -= 0.1 * g
/// assert_eq!(w, [0.95, 2.1]);
/// assert_eq!(w.from_flat(&w.to_flat()), w);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `backprop::Differentiable`",
    label = "not a differentiable type",
    note = "differentiable types are `f32`, `f64`, `[T; N]`, `Vec<T>`, ndarray arrays, and structs with `#[derive(backprop::Differentiable)]`",
    note = "a field that is a constant (a name, a size, a flag) is marked `#[backprop(skip)]`"
)]
pub trait Differentiable: Sized {
    /// The float type of every differentiable entry (`f32` or `f64`).
    type Scalar: Float;

    /// A value of the same shape whose differentiable entries are zero; skipped fields are
    /// copied from `self`. The starting point of a gradient accumulator.
    fn zeros_like(&self) -> Self;

    /// `self += alpha · other` on the differentiable entries (skipped fields are untouched).
    ///
    /// # Panics
    ///
    /// When `other` has another shape (a `Vec` or array of another length).
    fn scaled_add(&mut self, alpha: Self::Scalar, other: &Self);

    /// The number of differentiable entries: the length of [`to_flat`](Self::to_flat).
    fn flat_len(&self) -> usize;

    /// Appends the differentiable entries, in order, to `out`. [`to_flat`](Self::to_flat) is
    /// built on it; a struct's implementation calls it on each field in turn.
    fn write_flat(&self, out: &mut Vec<Self::Scalar>);

    /// A copy of `self` whose differentiable entries are the first
    /// [`flat_len`](Self::flat_len) values of `flat`, which it advances past them.
    /// [`from_flat`](Self::from_flat) is built on it; a struct's implementation calls it on
    /// each field in turn.
    ///
    /// # Panics
    ///
    /// When `flat` holds fewer than `self.flat_len()` values.
    fn read_flat(&self, flat: &mut &[Self::Scalar]) -> Self;

    /// Every differentiable entry, in order: fields in declaration order, arrays in logical
    /// row-major order. The vector [`numeric_gradient`](crate::numeric_gradient) and an
    /// optimiser over flat vectors work on.
    fn to_flat(&self) -> Vec<Self::Scalar> {
        let mut out = Vec::with_capacity(self.flat_len());
        self.write_flat(&mut out);
        out
    }

    /// The inverse of [`to_flat`](Self::to_flat): a value shaped like `self` whose
    /// differentiable entries are `flat`, its skipped fields copied from `self`.
    ///
    /// # Panics
    ///
    /// When `flat.len()` is not `self.flat_len()`.
    // `self` is the template: it gives the shapes and the skipped fields.
    #[allow(clippy::wrong_self_convention)]
    fn from_flat(&self, flat: &[Self::Scalar]) -> Self {
        let expected = self.flat_len();
        assert!(
            flat.len() == expected,
            "`from_flat` was given {} values, but the value has {expected} differentiable entries",
            flat.len(),
        );
        let mut rest = flat;
        self.read_flat(&mut rest)
    }
}

/// The first `n` values of `flat`, which is advanced past them.
fn take<'a, F>(flat: &mut &'a [F], n: usize) -> &'a [F] {
    assert!(
        flat.len() >= n,
        "`read_flat` needs {n} more values, but only {} are left",
        flat.len(),
    );
    let (head, tail) = flat.split_at(n);
    *flat = tail;
    head
}

macro_rules! differentiable_float {
    ($($f:ty)*) => {$(
        impl Differentiable for $f {
            type Scalar = $f;

            fn zeros_like(&self) -> Self {
                0.0
            }

            fn scaled_add(&mut self, alpha: $f, other: &Self) {
                *self += alpha * other;
            }

            fn flat_len(&self) -> usize {
                1
            }

            fn write_flat(&self, out: &mut Vec<$f>) {
                out.push(*self);
            }

            fn read_flat(&self, flat: &mut &[$f]) -> Self {
                take(flat, 1)[0]
            }
        }
    )*};
}
differentiable_float!(f32 f64);

impl<T: Differentiable, const N: usize> Differentiable for [T; N] {
    type Scalar = T::Scalar;

    fn zeros_like(&self) -> Self {
        std::array::from_fn(|i| self[i].zeros_like())
    }

    fn scaled_add(&mut self, alpha: T::Scalar, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.scaled_add(alpha, b);
        }
    }

    fn flat_len(&self) -> usize {
        self.iter().map(T::flat_len).sum()
    }

    fn write_flat(&self, out: &mut Vec<T::Scalar>) {
        self.iter().for_each(|t| t.write_flat(out));
    }

    fn read_flat(&self, flat: &mut &[T::Scalar]) -> Self {
        std::array::from_fn(|i| self[i].read_flat(flat))
    }
}

impl<T: Differentiable> Differentiable for Vec<T> {
    type Scalar = T::Scalar;

    fn zeros_like(&self) -> Self {
        self.iter().map(T::zeros_like).collect()
    }

    fn scaled_add(&mut self, alpha: T::Scalar, other: &Self) {
        assert_eq!(
            self.len(),
            other.len(),
            "`scaled_add` of a `Vec` of another length"
        );
        for (a, b) in self.iter_mut().zip(other) {
            a.scaled_add(alpha, b);
        }
    }

    fn flat_len(&self) -> usize {
        self.iter().map(T::flat_len).sum()
    }

    fn write_flat(&self, out: &mut Vec<T::Scalar>) {
        self.iter().for_each(|t| t.write_flat(out));
    }

    fn read_flat(&self, flat: &mut &[T::Scalar]) -> Self {
        self.iter().map(|t| t.read_flat(flat)).collect()
    }
}

#[cfg(feature = "ndarray")]
impl<T: Differentiable, D: ndarray::Dimension> Differentiable for ndarray::Array<T, D> {
    type Scalar = T::Scalar;

    fn zeros_like(&self) -> Self {
        self.map(T::zeros_like)
    }

    /// # Panics
    ///
    /// When `other` has another shape (no broadcasting).
    fn scaled_add(&mut self, alpha: T::Scalar, other: &Self) {
        assert_eq!(
            self.shape(),
            other.shape(),
            "`scaled_add` of an array of another shape"
        );
        ndarray::Zip::from(self)
            .and(other)
            .for_each(|a, b| a.scaled_add(alpha, b));
    }

    fn flat_len(&self) -> usize {
        self.iter().map(T::flat_len).sum()
    }

    fn write_flat(&self, out: &mut Vec<T::Scalar>) {
        self.iter().for_each(|t| t.write_flat(out));
    }

    fn read_flat(&self, flat: &mut &[T::Scalar]) -> Self {
        // `iter()` walks the logical row-major order, which is the standard layout that
        // `from_shape_vec` takes.
        let entries: Vec<T> = self.iter().map(|t| t.read_flat(flat)).collect();
        ndarray::Array::from_shape_vec(self.raw_dim(), entries)
            .expect("as many entries as the array has elements, in standard layout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_arrays_flatten_in_order() {
        let a = [[1.0_f64, 2.0], [3.0, 4.0]];
        assert_eq!(a.flat_len(), 4);
        assert_eq!(a.to_flat(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(a.from_flat(&[5.0, 6.0, 7.0, 8.0]), [[5.0, 6.0], [7.0, 8.0]]);
    }

    #[test]
    #[should_panic(expected = "`from_flat` was given 2 values, but the value has 3")]
    fn from_flat_of_the_wrong_length_panics() {
        vec![1.0_f32, 2.0, 3.0].from_flat(&[1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "`read_flat` needs 1 more values, but only 0 are left")]
    fn read_flat_past_the_end_panics() {
        let mut flat: &[f64] = &[];
        1.0_f64.read_flat(&mut flat);
    }

    #[test]
    #[should_panic(expected = "`scaled_add` of a `Vec` of another length")]
    fn scaled_add_of_another_length_panics() {
        vec![1.0_f64].scaled_add(1.0, &vec![1.0, 2.0]);
    }
}
