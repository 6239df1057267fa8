//! The max gate, `max_axis` (feature `ndarray`): its value, backward, forward mode and, for
//! second order, the composition rule of its forward mode. Every companion routes through the
//! first position of each lane's maximum.

use ndarray::{Array, ArrayBase, Axis, Data, RemoveAxis};
use num_traits::Float;

use crate::tensor::ArrayInput;

/// The maximum along `axis` (the max gate): one dimension less than `a`.
pub fn max_axis<F, S, D>(a: &ArrayBase<S, D>, axis: Axis) -> Array<F, D::Smaller>
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    a.fold_axis(axis, F::neg_infinity(), |&m, &x| m.max(x))
}

/// Forward mode of [`max_axis`]: the value, and the tangent `t` read at each lane's maximum
/// (the same element the gradient goes to).
pub fn max_axis_jvp<F, S, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    t: impl ArrayInput<F, D>,
) -> (Array<F, D::Smaller>, Array<F, D::Smaller>)
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let max = max_axis(a, axis);
    let t = t.array_view();
    let tangent = ndarray::Zip::from(a.lanes(axis))
        .and(t.lanes(axis))
        .and(&max)
        .map_collect(|lane, t_lane, &m| match lane.iter().position(|&x| x == m) {
            Some(k) => t_lane[k],
            None => m,
        });
    (max, tangent)
}

/// Backward of [`max_axis`]: the max gate routes each upstream entry to the first position
/// of the maximum in its lane; every other entry gets zero.
pub fn max_axis_backward<F, S, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    d_out: impl ArrayInput<F, D::Smaller>,
) -> (Array<F, D::Smaller>, Array<F, D>)
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let max = max_axis(a, axis);
    let mut d_a = Array::zeros(a.raw_dim());
    for ((lane, mut d_lane), (&m, &d)) in a
        .lanes(axis)
        .into_iter()
        .zip(d_a.lanes_mut(axis))
        .zip(max.iter().zip(d_out.array_view().iter()))
    {
        if let Some(k) = lane.iter().position(|&x| x == m) {
            d_lane[k] = d;
        } else if m.is_nan() {
            d_lane.fill(m);
        }
    }
    (max, d_a)
}

/// The composition rule applied to [`max_axis_jvp`] (reverse over forward: `#[backprop(hvp)]`
/// differentiates forward-mode code that calls it, through `max_axis_hvp_tangent`): the value
/// and the tangent are both read at each lane's maximum, so each upstream goes to that position,
/// of `a` for the value's and of `t` for the tangent's. The position itself does not move with
/// `a` (almost everywhere), so the tangent adds nothing to `a`'s gradient.
#[allow(clippy::type_complexity)]
pub fn max_axis_jvp_backward<F, S, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    t: impl ArrayInput<F, D>,
    d_out: (
        impl ArrayInput<F, D::Smaller>,
        impl ArrayInput<F, D::Smaller>,
    ),
) -> (
    (Array<F, D::Smaller>, Array<F, D::Smaller>),
    (Array<F, D>, Array<F, D>),
)
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let (max, tangent) = max_axis_jvp(a, axis, t);
    let (_, d_a) = max_axis_backward(a, axis, d_out.0);
    let (_, d_t) = max_axis_backward(a, axis, d_out.1);
    ((max, tangent), (d_a, d_t))
}

/// [`max_axis_jvp`] and its composition rule under the names second order calls
/// (`g_hvp_tangent` and its `_backward`, of a gate `g`).
pub use max_axis_jvp as max_axis_hvp_tangent;
pub use max_axis_jvp_backward as max_axis_hvp_tangent_backward;
