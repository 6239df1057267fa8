//! Tensor gates and the array helpers generated code calls (feature `ndarray`).
//!
//! Every gate follows the crate's contract: `g(a, ..)` and `g_backward(a, .., d_out)` returning
//! `(g(a, ..), d_a)`, the upstream gradient taken by value (a reference is accepted too).
//! Backward passes are written with whole-array operations; no Jacobian is ever formed.

use ndarray::{
    Array, Array1, Array2, ArrayBase, ArrayView, Axis, Data, Dimension, IxDyn, RemoveAxis,
};
use num_traits::Float;

/// `g` summed down to the shape of `like`: the backward of a broadcast.
///
/// ndarray broadcasts a lower-rank operand along the leading axes and an axis of length 1
/// along any axis; the gradient of such an operand is the upstream gradient summed over those
/// axes (numpy's `sum_to`). When the shapes already agree, `g` is returned as it is.
pub fn sum_to<F, E, L>(g: Array<F, E>, like: &L) -> Array<F, L::Dim>
where
    F: Float,
    E: Dimension,
    L: ShapeOf + ?Sized,
{
    let target = like.shape_dim();
    let mut summed: Array<F, IxDyn> = g.into_dyn();
    while summed.ndim() > target.ndim() {
        summed = summed.sum_axis(Axis(0));
    }
    for (axis, &len) in target.slice().iter().enumerate() {
        if len == 1 && summed.shape()[axis] != 1 {
            summed = summed.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    // The shapes now agree axis by axis: only the dimension type changes, never the layout.
    match summed.into_dimensionality::<L::Dim>() {
        Ok(fitted) if fitted.raw_dim() == target => fitted,
        // Shapes that do not broadcast to each other would have failed in the forward pass.
        _ => panic!("a gradient cannot be summed to shape {:?}", target.slice()),
    }
}

/// What a gradient is summed back to ([`sum_to`]): an array, or only the shape of one, which
/// is what a loop's tape keeps of an array whose values its reverse pass does not read.
pub trait ShapeOf {
    type Dim: Dimension;
    fn shape_dim(&self) -> Self::Dim;
}

impl<S: ndarray::RawData, D: Dimension> ShapeOf for ArrayBase<S, D> {
    type Dim = D;
    fn shape_dim(&self) -> D {
        self.raw_dim()
    }
}

/// The shape of an array (its `raw_dim()`), standing in for the array in [`sum_to`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape<D>(pub D);

impl<D: Dimension> ShapeOf for Shape<D> {
    type Dim = D;
    fn shape_dim(&self) -> D {
        self.0.clone()
    }
}

/// [`sum_to`] of a borrowed gradient: the first reduction reads `g` in place, so only the
/// reduced array is allocated (a copy only when the shapes already agree).
pub fn sum_to_ref<F, S, E, L>(g: &ArrayBase<S, E>, like: &L) -> Array<F, L::Dim>
where
    F: Float,
    S: Data<Elem = F>,
    E: SumAxis,
    L: ShapeOf + ?Sized,
{
    let target = like.shape_dim();
    if g.ndim() > target.ndim() {
        return sum_to(E::sum_axis_of(g, Axis(0)), like);
    }
    let axis = target
        .slice()
        .iter()
        .zip(g.shape())
        .position(|(&want, &have)| want == 1 && have != 1);
    match axis {
        Some(k) => sum_to(E::sum_axis_of(g, Axis(k)).insert_axis(Axis(k)), like),
        None => sum_to(g.to_owned(), like),
    }
}

/// The dimensions of the gradients [`sum_to_ref`] reduces: every ndarray dimension, a
/// 0-dimensional array (an axis reduction of a vector) included, which has no axis to remove
/// and is never reduced.
pub trait SumAxis: Dimension {
    /// `g.sum_axis(axis)`, of any dimension.
    fn sum_axis_of<F: Float, S: Data<Elem = F>>(
        g: &ArrayBase<S, Self>,
        axis: Axis,
    ) -> Array<F, IxDyn>;
}

impl SumAxis for ndarray::Ix0 {
    fn sum_axis_of<F: Float, S: Data<Elem = F>>(
        g: &ArrayBase<S, Self>,
        axis: Axis,
    ) -> Array<F, IxDyn> {
        g.view().into_dyn().sum_axis(axis)
    }
}

macro_rules! sum_axis {
    ($($dim:ty),*) => {$(
        impl SumAxis for $dim {
            fn sum_axis_of<F: Float, S: Data<Elem = F>>(
                g: &ArrayBase<S, Self>,
                axis: Axis,
            ) -> Array<F, IxDyn> {
                g.sum_axis(axis).into_dyn()
            }
        }
    )*};
}
sum_axis!(
    ndarray::Ix1,
    ndarray::Ix2,
    ndarray::Ix3,
    ndarray::Ix4,
    ndarray::Ix5,
    ndarray::Ix6,
    IxDyn
);

/// An array a gate reads, by value or by reference: an owned array lends its buffer to the
/// result (the notes compute softmax in the scores' buffer; generated code hands over an array
/// that nothing reads afterwards), a reference or view is copied.
pub trait ArrayInput<F, D> {
    /// The array, owned: moved, or copied from the reference.
    fn into_array(self) -> Array<F, D>;
    /// The array, borrowed.
    fn array_view(&self) -> ArrayView<'_, F, D>;
    /// Whether [`into_array`](ArrayInput::into_array) hands over a buffer (no allocation).
    fn is_owned(&self) -> bool {
        false
    }
}

impl<F: Clone, D: Dimension> ArrayInput<F, D> for Array<F, D> {
    fn into_array(self) -> Array<F, D> {
        self
    }

    fn array_view(&self) -> ArrayView<'_, F, D> {
        self.view()
    }

    fn is_owned(&self) -> bool {
        true
    }
}

/// A reference, or a view taken by value (what `a.t()` gives): copied.
macro_rules! copied_input {
    ($([$($generics:tt)*] $array:ty;)*) => {$(
        impl<$($generics)*> ArrayInput<F, D> for $array {
            fn into_array(self) -> Array<F, D> {
                self.to_owned()
            }

            fn array_view(&self) -> ArrayView<'_, F, D> {
                self.view()
            }
        }
    )*};
}
copied_input! {
    [F: Clone, S: Data<Elem = F>, D: Dimension] &ArrayBase<S, D>;
    [F: Clone, D: Dimension] ArrayView<'_, F, D>;
}

/// The upstream gradient handed to a gradient-only gate function: an owned array, whose buffer
/// then holds the result (generated code hands over a gradient nothing else reads), a borrowed
/// one, copied, or a gradient not written out yet ([`OneHot`]), which a gate may fold into its
/// own buffer.
pub trait Upstream<F, D: Dimension> {
    /// The gradient as an owned array.
    fn into_gradient(self) -> Array<F, D>;
    /// Whether [`into_gradient`](Upstream::into_gradient) hands over a buffer.
    fn is_owned(&self) -> bool;
    /// The sum of every lane along `axis`, in the order of `lanes(axis)`, without writing
    /// anything out.
    fn lane_sums(&self, axis: Axis) -> impl Iterator<Item = F> + '_;
    /// `out += self`.
    fn add_into(self, out: &mut Array<F, D>);
}

/// An owned or borrowed array upstream (the gradient as any other gate takes it).
macro_rules! array_upstream {
    ($($ty:ty => [$($bounds:tt)*]),*) => {$(
        impl<$($bounds)*> Upstream<F, D> for $ty {
            fn into_gradient(self) -> Array<F, D> {
                self.into_array()
            }

            fn is_owned(&self) -> bool {
                ArrayInput::is_owned(self)
            }

            fn lane_sums(&self, axis: Axis) -> impl Iterator<Item = F> + '_ {
                self.lanes(axis)
                    .into_iter()
                    .map(|lane| lane.fold(F::zero(), |s, &d| s + d))
            }

            fn add_into(self, out: &mut Array<F, D>) {
                ndarray::Zip::from(out)
                    .and(&self.array_view())
                    .for_each(|o, &g| *o = *o + g);
            }
        }
    )*};
}
array_upstream!(
    Array<F, D> => [F: Float, D: Dimension],
    &ArrayBase<S, D> => [F: Float, S: Data<Elem = F>, D: Dimension]
);

/// The gradient of [`pick`] before it is written out: row `i` holds the upstream's entry `i`
/// at column `labels[i]`, and zeros elsewhere. [`log_softmax_grad`] folds it into the
/// log-probabilities' buffer, as the notes' `dscores[range(N), y] -= 1`; any other use writes
/// it out.
pub struct OneHot<'a, U> {
    labels: &'a [usize],
    upstream: U,
    dim: ndarray::Ix2,
}

/// The gradient of [`pick`] on `a`, not written out (see [`OneHot`]); `a` gives its shape.
pub fn one_hot<'a, F, S, U>(
    a: &ArrayBase<S, ndarray::Ix2>,
    labels: &'a [usize],
    d_out: U,
) -> OneHot<'a, U>
where
    S: Data<Elem = F>,
    U: PickUpstream<F>,
{
    OneHot {
        labels,
        upstream: d_out,
        dim: a.raw_dim(),
    }
}

impl<F: Float, U: PickUpstream<F>> Upstream<F, ndarray::Ix2> for OneHot<'_, U> {
    fn into_gradient(self) -> Array2<F> {
        let mut d_a = Array2::zeros(self.dim);
        self.add_into(&mut d_a);
        d_a
    }

    fn is_owned(&self) -> bool {
        false
    }

    fn lane_sums(&self, axis: Axis) -> impl Iterator<Item = F> + '_ {
        let (rows, columns) = (self.dim[0], self.dim[1]);
        // A row holds one entry; a column, the entries of the rows labelled with it.
        let lanes = if axis == Axis(1) { rows } else { columns };
        (0..lanes).map(move |k| {
            if axis == Axis(1) {
                return self.upstream.row(k);
            }
            (0..rows)
                .filter(|&i| self.labels[i] == k)
                .fold(F::zero(), |s, i| s + self.upstream.row(i))
        })
    }

    fn add_into(self, out: &mut Array2<F>) {
        for i in 0..self.dim[0] {
            let at = [i, self.labels[i]];
            out[at] = out[at] + self.upstream.row(i);
        }
    }
}

/// The upstream gradient of [`pick`]: one entry per row, or one value for every row (the
/// gradient of a `.mean()` or `.sum()` of the picked entries).
pub trait PickUpstream<F> {
    fn row(&self, i: usize) -> F;
}

impl<F: Copy, S: Data<Elem = F>> PickUpstream<F> for &ArrayBase<S, ndarray::Ix1> {
    fn row(&self, i: usize) -> F {
        self[i]
    }
}

impl<F: Copy, S: Data<Elem = F>> PickUpstream<F> for ArrayBase<S, ndarray::Ix1> {
    fn row(&self, i: usize) -> F {
        self[i]
    }
}

impl PickUpstream<f64> for f64 {
    fn row(&self, _: usize) -> f64 {
        *self
    }
}

impl PickUpstream<f32> for f32 {
    fn row(&self, _: usize) -> f32 {
        *self
    }
}

/// `f(x, d)` for every element of the values `x` and of the upstream gradient `d`, computed in
/// `d`'s buffer: the gradient of an elementwise line (a ReLU's mask) when nothing else reads
/// the upstream. The upstream may be one not written out yet (a [`OneHot`] of `pick`), which
/// is written out first.
pub fn map_upstream<F, S, D>(
    d: impl Upstream<F, D>,
    x: &ArrayBase<S, D>,
    f: impl Fn(F, F) -> F,
) -> Array<F, D>
where
    F: Float,
    S: Data<Elem = F>,
    D: Dimension,
{
    let mut d = d.into_gradient();
    ndarray::Zip::from(&mut d)
        .and(x)
        .for_each(|d, &x| *d = f(x, *d));
    d
}

/// `part += g`: the gradient of a part of an array (`a.slice(s![.., 0..h])`, `a.row(i)`)
/// added into the same part of the array's gradient, `d_a.slice_mut(s![.., 0..h])`.
pub fn add_to_part<F, S, D>(mut part: ndarray::ArrayViewMut<'_, F, D>, g: &ArrayBase<S, D>)
where
    F: Float + std::ops::AddAssign,
    S: Data<Elem = F>,
    D: Dimension,
{
    ndarray::Zip::from(&mut part)
        .and(g)
        .for_each(|a, &b| *a += b);
}

/// `acc += g` where `g` may have the shape of a broadcast result: summed down to `acc`'s
/// shape first (see [`sum_to`]); no allocation when the shapes agree.
pub fn add_to<F, S, E, D>(acc: &mut Array<F, D>, g: &ArrayBase<S, E>)
where
    F: Float + std::ops::AddAssign,
    S: Data<Elem = F>,
    E: SumAxis,
    D: Dimension,
{
    if acc.shape() == g.shape() {
        let g = g.view().into_shape_with_order(acc.raw_dim());
        if let Ok(g) = g {
            ndarray::Zip::from(acc).and(&g).for_each(|a, &b| *a += b);
            return;
        }
    }
    let summed = sum_to_ref(g, &*acc);
    ndarray::Zip::from(acc)
        .and(&summed)
        .for_each(|a, &b| *a += b);
}

/// The backward of a sum along `axis`: `g` (one dimension less than `like`) repeated along
/// `axis` to `like`'s shape.
pub fn expand_axis<F, S, S2, D>(
    g: &ArrayBase<S, D::Smaller>,
    axis: Axis,
    like: &ArrayBase<S2, D>,
) -> Array<F, D>
where
    F: Float,
    S: Data<Elem = F>,
    S2: Data<Elem = F>,
    D: RemoveAxis,
{
    let mut out = Array::zeros(like.raw_dim());
    // Lanes along `axis` come in the logical order of the remaining indices, as `g`'s
    // elements do.
    for (mut sub, &v) in out.lanes_mut(axis).into_iter().zip(g.iter()) {
        sub.fill(v);
    }
    out
}

/// `softmax(a)` along `axis`: e^(a − max) / Σ e^(a − max), stable for large inputs. An owned
/// `a` is computed in its own buffer.
pub fn softmax<F, D>(a: impl ArrayInput<F, D>, axis: Axis) -> Array<F, D>
where
    F: Float,
    D: RemoveAxis,
{
    let mut y = a.into_array();
    for mut lane in y.lanes_mut(axis) {
        let max = lane.fold(F::neg_infinity(), |m, &x| m.max(x));
        lane.mapv_inplace(|x| (x - max).exp());
        let total = lane.fold(F::zero(), |s, &x| s + x);
        lane.mapv_inplace(|x| x / total);
    }
    y
}

/// Backward of [`softmax`]: with y = softmax(a), d_a = y ⊙ (d − Σ_axis d ⊙ y), lane by lane.
pub fn softmax_backward<F, S, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    d_out: impl Upstream<F, D>,
) -> (Array<F, D>, Array<F, D>)
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let y = softmax(a, axis);
    let d_a = softmax_grad(&y, axis, d_out);
    (y, d_a)
}

/// The gradient of [`softmax`] from its value `y` (no forward pass): what generated code calls
/// for `backprop::softmax`, whose value the forward pass already has.
pub fn softmax_grad<F, S, D>(
    y: &ArrayBase<S, D>,
    axis: Axis,
    d_out: impl Upstream<F, D>,
) -> Array<F, D>
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let mut d_a = d_out.into_gradient();
    for (y, mut g) in y.lanes(axis).into_iter().zip(d_a.lanes_mut(axis)) {
        let inner = y
            .iter()
            .zip(g.iter())
            .fold(F::zero(), |s, (&y, &d)| s + y * d);
        ndarray::Zip::from(&mut g)
            .and(&y)
            .for_each(|g, &y| *g = y * (*g - inner));
    }
    d_a
}

/// `log(softmax(a))` along `axis`, computed as a − max − ln Σ e^(a − max): no overflow, and
/// no `ln(0)` for very negative entries. An owned `a` is computed in its own buffer.
pub fn log_softmax<F, D>(a: impl ArrayInput<F, D>, axis: Axis) -> Array<F, D>
where
    F: Float,
    D: RemoveAxis,
{
    let mut y = a.into_array();
    for mut lane in y.lanes_mut(axis) {
        let max = lane.fold(F::neg_infinity(), |m, &x| m.max(x));
        let log_total = lane.fold(F::zero(), |s, &x| s + (x - max).exp()).ln();
        lane.mapv_inplace(|x| x - max - log_total);
    }
    y
}

/// Backward of [`log_softmax`]: d_a = d − softmax(a) ⊙ Σ_axis d, lane by lane.
pub fn log_softmax_backward<F, S, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    d_out: impl Upstream<F, D>,
) -> (Array<F, D>, Array<F, D>)
where
    F: Float,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let y = log_softmax(a, axis);
    let d_a = log_softmax_grad(&y, axis, d_out);
    (y, d_a)
}

/// The gradient of [`log_softmax`] from its value `y` (no forward pass): d_a = d − e^y Σ_axis d,
/// lane by lane. What generated code calls for `backprop::log_softmax`.
///
/// The result takes the upstream's buffer when it is owned; otherwise, when `y` is owned, the
/// result is computed in `y`'s buffer and the upstream, a borrowed array or a [`OneHot`], is
/// added in place (the notes' `dscores = probs; dscores[range(N), y] -= 1`): no allocation
/// either way.
pub fn log_softmax_grad<F, D>(
    y: impl ArrayInput<F, D>,
    axis: Axis,
    d_out: impl Upstream<F, D>,
) -> Array<F, D>
where
    F: Float,
    D: RemoveAxis,
{
    if d_out.is_owned() || !y.is_owned() {
        let y = y.array_view();
        let mut d_a = d_out.into_gradient();
        for (y, mut g) in y.lanes(axis).into_iter().zip(d_a.lanes_mut(axis)) {
            let total = g.fold(F::zero(), |s, &d| s + d);
            ndarray::Zip::from(&mut g)
                .and(&y)
                .for_each(|g, &y| *g = *g - y.exp() * total);
        }
        return d_a;
    }
    let mut d_a = y.into_array();
    for (mut lane, total) in d_a.lanes_mut(axis).into_iter().zip(d_out.lane_sums(axis)) {
        lane.mapv_inplace(|y| -(y.exp() * total));
    }
    d_out.add_into(&mut d_a);
    d_a
}

/// Row `i`'s entry `labels[i]`: numpy's `a[arange(n), y]`.
///
/// Panics, like the indexing it stands for, if a label is out of range or `labels` is
/// shorter than the number of rows.
pub fn pick<F, S>(a: &ArrayBase<S, ndarray::Ix2>, labels: &[usize]) -> Array1<F>
where
    F: Float,
    S: Data<Elem = F>,
{
    (0..a.nrows()).map(|i| a[[i, labels[i]]]).collect()
}

/// Backward of [`pick`]: scatters each upstream entry back to the entry it was picked from.
pub fn pick_backward<F, S>(
    a: &ArrayBase<S, ndarray::Ix2>,
    labels: &[usize],
    d_out: impl PickUpstream<F>,
) -> (Array1<F>, Array2<F>)
where
    F: Float,
    S: Data<Elem = F>,
{
    (pick(a, labels), pick_grad(a, labels, d_out))
}

/// The gradient of [`pick`] alone (it needs only `a`'s shape), written out; generated code
/// calls [`one_hot`] where the gradient's only reader can take it unwritten.
pub fn pick_grad<F, S>(
    a: &ArrayBase<S, ndarray::Ix2>,
    labels: &[usize],
    d_out: impl PickUpstream<F>,
) -> Array2<F>
where
    F: Float,
    S: Data<Elem = F>,
{
    one_hot(a, labels, d_out).into_gradient()
}

impl<F: Float + ndarray::ScalarOperand + std::ops::AddAssign, D: Dimension> crate::Accumulate
    for Array<F, D>
{
    fn accumulate(&mut self, g: Self) {
        *self += &g;
    }
}

impl<F: Copy, S: Data<Elem = F>, D: Dimension> crate::Gradient<F> for ArrayBase<S, D> {
    fn flatten_into(&self, out: &mut Vec<F>) {
        out.extend(self.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::max_axis::{max_axis, max_axis_backward};
    use crate::{numeric_gradient, relu_grad};
    use ndarray::array;

    /// Checks `backward(a, d)` against central differences of `<d, forward(a)>`.
    fn check<D: Dimension>(
        a: &Array<f64, D>,
        d: &Array<f64, impl Dimension>,
        forward: impl Fn(&Array<f64, D>) -> Array<f64, IxDyn>,
        analytic: &Array<f64, D>,
    ) {
        let flat: Vec<f64> = a.iter().copied().collect();
        let d_flat: Vec<f64> = d.iter().copied().collect();
        let numeric = numeric_gradient(
            |p: &[f64]| {
                let x = Array::from_shape_vec(a.raw_dim(), p.to_vec()).unwrap();
                forward(&x).iter().zip(&d_flat).map(|(y, d)| y * d).sum()
            },
            &flat,
        );
        for (g, n) in analytic.iter().zip(&numeric) {
            assert!((g - n).abs() < 1e-7, "{analytic} vs {numeric:?}");
        }
    }

    #[test]
    fn sum_to_reverses_broadcasting() {
        let g = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(
            sum_to(g.clone(), &array![0.0, 0.0, 0.0]),
            array![5.0, 7.0, 9.0]
        );
        assert_eq!(
            sum_to(g.clone(), &array![[0.0], [0.0]]),
            array![[6.0], [15.0]]
        );
        assert_eq!(
            sum_to(g.clone(), &array![[0.0, 0.0, 0.0]]),
            array![[5.0, 7.0, 9.0]]
        );
        assert_eq!(sum_to(g.clone(), &g), g);
        assert_eq!(sum_to(g.clone(), &ndarray::arr0(0.0)), ndarray::arr0(21.0));
    }

    #[test]
    fn tensor_gates_match_central_differences() {
        let a = array![[1.0, -2.0, 0.5], [3.0, 0.1, -1.0]];
        let d = array![[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]];
        for axis in [Axis(0), Axis(1)] {
            let (y, g) = softmax_backward(&a, axis, d.clone());
            assert_eq!(y, softmax(&a, axis));
            check(&a, &d, |x| softmax(x, axis).into_dyn(), &g);
            let (_, g) = log_softmax_backward(&a, axis, &d);
            check(&a, &d, |x| log_softmax(x, axis).into_dyn(), &g);
            let d_small = d.sum_axis(axis);
            let (_, g) = max_axis_backward(&a, axis, &d_small);
            check(&a, &d_small, |x| max_axis(x, axis).into_dyn(), &g);
        }
        let labels = [2, 0];
        let d1 = array![1.5, -2.0];
        let (picked, g) = pick_backward(&a, &labels, &d1);
        assert_eq!(picked, array![0.5, 3.0]);
        check(&a, &d1, |x| pick(x, &labels).into_dyn(), &g);
    }

    #[test]
    fn owned_arguments_lend_their_buffers() {
        let a = array![[1.0, -2.0, 0.5], [3.0, 0.1, -1.0]];
        for axis in [Axis(0), Axis(1)] {
            let owned = a.clone();
            let buffer = owned.as_ptr();
            let y = log_softmax(owned, axis);
            assert_eq!(y.as_ptr(), buffer);
            assert_eq!(y, log_softmax(&a, axis));
            let owned = a.clone();
            let buffer = owned.as_ptr();
            let p = softmax(owned, axis);
            assert_eq!(p.as_ptr(), buffer);
            assert_eq!(p, softmax(&a.view(), axis));
            assert_eq!(p, softmax(a.view(), axis));
        }
    }

    #[test]
    fn one_hot_gradients_agree_with_written_out_ones() {
        let a = array![[1.0, -2.0, 0.5], [3.0, 0.1, -1.0], [0.2, 0.2, 4.0]];
        let labels = [2, 0, 2];
        let rows = array![1.5, -2.0, 0.25];
        let dense = pick_grad(&a, &labels, &rows);
        assert_eq!(
            dense,
            array![[0.0, 0.0, 1.5], [-2.0, 0.0, 0.0], [0.0, 0.0, 0.25]]
        );
        for axis in [Axis(0), Axis(1)] {
            let sums: Vec<f64> = one_hot(&a, &labels, &rows).lane_sums(axis).collect();
            assert_eq!(sums, dense.sum_axis(axis).to_vec());
            let sums: Vec<f64> = Upstream::lane_sums(&&dense, axis).collect();
            assert_eq!(sums, dense.sum_axis(axis).to_vec());
            let y = log_softmax(&a, axis);
            // The written-out upstream's buffer, and the log-probabilities' buffer.
            let expected = log_softmax_grad(&y, axis, dense.clone());
            let buffer = y.as_ptr();
            let folded = log_softmax_grad(y.clone(), axis, one_hot(&a, &labels, &rows));
            assert_ne!(folded.as_ptr(), buffer, "a clone: another buffer");
            for (e, f) in expected.iter().zip(&folded) {
                assert!((e - f).abs() <= 1e-15, "{expected} vs {folded}");
            }
            let in_place = log_softmax_grad(y, axis, one_hot(&a, &labels, 0.5));
            assert_eq!(in_place.as_ptr(), buffer, "computed in y's buffer");
            let uniform =
                log_softmax_grad(&log_softmax(&a, axis), axis, pick_grad(&a, &labels, 0.5));
            for (e, f) in uniform.iter().zip(&in_place) {
                assert!((e - f).abs() <= 1e-15);
            }
        }
        // Every other gate takes it written out.
        let g = relu_grad(&a, one_hot(&a, &labels, &rows));
        assert_eq!(g, &dense * &a.mapv(|x| f64::from(x > 0.0)));
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let a = array![[1000.0, 1000.0], [-1000.0, 0.0]];
        let y = softmax(&a, Axis(1));
        assert!(y.iter().all(|v| v.is_finite()));
        assert!((y.row(0).sum() - 1.0).abs() < 1e-15);
        let l = log_softmax(&a, Axis(1));
        assert!((l[[1, 0]] - (-1000.0)).abs() < 1e-9);
    }
}
