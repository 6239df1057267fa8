//! Forward mode's array helpers (feature `ndarray`): a tangent spread over its value's shape
//! ([`tangent_like`]), and its composition rule for second order ([`tangent_like_backward`]).

use ndarray::{Array, ArrayBase, Dimension};
use num_traits::Float;

use crate::tensor::{SumAxis, sum_to_ref};

/// A tangent spread over the shape of the value `y` it belongs to, in forward-mode code
/// (`#[backprop(jvp)]`): the tangent of `y = &z + s` for a constant array `z` and a scalar
/// `s` is `t_s` everywhere, and that of `&z + &b` for a row `b` is `t_b` in every row.
/// A tangent that has `y`'s shape already is returned as it is.
pub fn tangent_like<F, T, S, D>(t: T, y: &ArrayBase<S, D>) -> Array<F, D>
where
    F: Clone,
    T: TangentPart<F>,
    S: ndarray::Data<Elem = F>,
    D: Dimension,
{
    t.spread(y.raw_dim())
}

/// The composition rule of [`tangent_like`], for second order (`#[backprop(hvp)]`
/// differentiates forward-mode code that spreads tangents): the gradient with respect to the
/// tangent is the upstream summed back to its shape; `y` only gives the shape (a zero).
#[allow(clippy::type_complexity)]
pub fn tangent_like_backward<F, T, S, D>(
    t: T,
    y: &ArrayBase<S, D>,
    d_out: Array<F, D>,
) -> (Array<F, D>, (T::Gradient, Array<F, D>))
where
    F: Float,
    T: TangentPart<F>,
    S: ndarray::Data<Elem = F>,
    D: SumAxis,
{
    let d_t = t.gather(&d_out);
    (t.spread(y.raw_dim()), (d_t, Array::zeros(y.raw_dim())))
}

/// [`tangent_like`] in forward mode, for forward over forward (`g_jvp_jvp`, written by
/// `#[backprop(jvp, hvp)]`): it is linear in the tangent and reads only the shape of `y`, so
/// its tangent is the tangent's tangent spread the same way.
pub fn tangent_like_jvp<F, T, S, D, U>(
    t: T,
    y: &ArrayBase<S, D>,
    t_t: T,
    _t_y: U,
) -> (Array<F, D>, Array<F, D>)
where
    F: Clone,
    T: TangentPart<F>,
    S: ndarray::Data<Elem = F>,
    D: Dimension,
{
    (t.spread(y.raw_dim()), t_t.spread(y.raw_dim()))
}

/// What [`tangent_like`] spreads: a scalar, an array, or a reference to one.
pub trait TangentPart<F> {
    /// The gradient of a spread part: of its own shape.
    type Gradient;
    /// The value broadcast to `shape`.
    fn spread<D: Dimension>(self, shape: D) -> Array<F, D>;
    /// `d`, the gradient of the spread value, summed back to this part's shape.
    fn gather<D: SumAxis>(&self, d: &Array<F, D>) -> Self::Gradient;
}

macro_rules! scalar_tangent_part {
    ($($f:ty),*) => {$(
        impl TangentPart<$f> for $f {
            type Gradient = $f;

            fn spread<D: Dimension>(self, shape: D) -> Array<$f, D> {
                Array::from_elem(shape, self)
            }

            fn gather<D: SumAxis>(&self, d: &Array<$f, D>) -> $f {
                d.sum()
            }
        }
    )*};
}
scalar_tangent_part!(f32, f64);

impl<F: Float, E: Dimension> TangentPart<F> for Array<F, E> {
    type Gradient = Array<F, E>;

    fn gather<D: SumAxis>(&self, d: &Array<F, D>) -> Array<F, E> {
        sum_to_ref(d, self)
    }

    fn spread<D: Dimension>(self, shape: D) -> Array<F, D> {
        if self.shape() == shape.slice() {
            if let Ok(same) = self.into_shape_with_order(shape.clone()) {
                return same;
            }
            unreachable!("an array of the same shape takes that shape");
        }
        broadcast_tangent(&self, shape)
    }
}

impl<F: Float, S: ndarray::Data<Elem = F>, E: Dimension> TangentPart<F> for &ArrayBase<S, E> {
    type Gradient = Array<F, E>;

    fn gather<D: SumAxis>(&self, d: &Array<F, D>) -> Array<F, E> {
        sum_to_ref(d, *self)
    }

    fn spread<D: Dimension>(self, shape: D) -> Array<F, D> {
        broadcast_tangent(self, shape)
    }
}

fn broadcast_tangent<F: Clone, S: ndarray::Data<Elem = F>, E: Dimension, D: Dimension>(
    t: &ArrayBase<S, E>,
    shape: D,
) -> Array<F, D> {
    match t.broadcast(shape.clone()) {
        Some(spread) => spread.to_owned(),
        None => panic!(
            "a tangent of shape {:?} does not broadcast to its value's shape {:?}",
            t.shape(),
            shape.slice()
        ),
    }
}
