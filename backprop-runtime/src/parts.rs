//! The backwards of ndarray's operations that move elements around or reduce them with a
//! formula of their own, which generated code calls (feature `ndarray`): `select` (an
//! embedding lookup), `concatenate` and `stack`, `var_axis` and `std_axis`, reshaping. Each
//! gradient follows the shapes; none forms a Jacobian.

use ndarray::{Array, ArrayBase, Axis, Data, Dimension, RemoveAxis, Slice};
use num_traits::Float;

use crate::tensor::ArrayInput;

/// The backward of `a.select(axis, indices)`: each upstream sub-view goes back to the
/// position it was picked from, added where an index repeats (numpy's `np.add.at`).
pub fn select_grad<F, S, D>(
    g: &ArrayBase<S, D>,
    axis: Axis,
    indices: impl AsRef<[usize]>,
    like: D,
) -> Array<F, D>
where
    F: Float + std::ops::AddAssign,
    S: Data<Elem = F>,
    D: RemoveAxis,
{
    let mut out = Array::zeros(like);
    // The indices as the user wrote them for `select`, borrowed once more: `&&[1, 0, 1]`,
    // `&&idx` of a `Vec`, `&y` of a slice.
    for (k, &i) in indices.as_ref().iter().enumerate() {
        let mut to = out.index_axis_mut(axis, i);
        ndarray::Zip::from(&mut to)
            .and(g.index_axis(axis, k))
            .for_each(|o, &d| *o += d);
    }
    out
}

/// The part of a concatenation's gradient that belongs to the operand at `start..start + len`
/// along `axis`.
pub fn concat_part<F, S, D>(
    g: &ArrayBase<S, D>,
    axis: Axis,
    start: usize,
    len: usize,
) -> Array<F, D>
where
    F: Clone,
    S: Data<Elem = F>,
    D: Dimension,
{
    g.slice_axis(axis, Slice::from(start..start + len))
        .to_owned()
}

/// The backward of `a.var_axis(axis, ddof)`: `d_a = d · 2 (a − mean) / (n − ddof)`, the
/// upstream spread back along `axis`.
pub fn var_axis_grad<F, S, S2, D>(
    a: &ArrayBase<S, D>,
    axis: Axis,
    ddof: F,
    g: &ArrayBase<S2, D::Smaller>,
) -> Array<F, D>
where
    F: Float + ndarray::ScalarOperand + std::ops::AddAssign + 'static,
    S: Data<Elem = F>,
    S2: Data<Elem = F>,
    D: RemoveAxis,
{
    let n = F::from(a.len_of(axis)).unwrap_or_else(F::one);
    let two = F::one() + F::one();
    let mut out = a.to_owned();
    for (mut lane, &d) in out.lanes_mut(axis).into_iter().zip(g.iter()) {
        let mean = lane.fold(F::zero(), |s, &x| s + x) / n;
        lane.mapv_inplace(|x| two * (x - mean) / (n - ddof) * d);
    }
    out
}

/// The backward of `y = a.std_axis(axis, ddof)`: `d_a = d · (a − mean) / ((n − ddof) y)`.
pub fn std_axis_grad<F, S, S2, S3, D>(
    a: &ArrayBase<S, D>,
    y: &ArrayBase<S2, D::Smaller>,
    axis: Axis,
    ddof: F,
    g: &ArrayBase<S3, D::Smaller>,
) -> Array<F, D>
where
    F: Float + 'static,
    S: Data<Elem = F>,
    S2: Data<Elem = F>,
    S3: Data<Elem = F>,
    D: RemoveAxis,
{
    let n = F::from(a.len_of(axis)).unwrap_or_else(F::one);
    let mut out = a.to_owned();
    for ((mut lane, &d), &s) in out.lanes_mut(axis).into_iter().zip(g.iter()).zip(y.iter()) {
        let mean = lane.fold(F::zero(), |t, &x| t + x) / n;
        lane.mapv_inplace(|x| (x - mean) / ((n - ddof) * s) * d);
    }
    out
}

/// The backward of a reshape (`a.to_shape(..)`, `a.into_shape_with_order(..)`): the upstream
/// in `a`'s shape, in the same (row-major) order.
pub fn reshape_grad<F, E, D>(g: impl ArrayInput<F, E>, like: D) -> Array<F, D>
where
    F: Clone,
    E: Dimension,
    D: Dimension,
{
    g.array_view()
        .to_shape(like)
        .expect("the gradient of a reshape has the reshaped array's size")
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    /// Central difference of `f` along `e_k`, for the checks below.
    fn slope(f: impl Fn(&Array2<f64>) -> f64, a: &Array2<f64>, k: (usize, usize)) -> f64 {
        let h = 1e-6;
        let (mut up, mut down) = (a.clone(), a.clone());
        up[k] += h;
        down[k] -= h;
        (f(&up) - f(&down)) / (2.0 * h)
    }

    #[test]
    fn variance_and_deviation_backwards_match_central_differences() {
        let a = array![[1.0, -2.0, 0.5], [3.0, 0.1, -1.0]];
        for (axis, d) in [
            (Axis(0), array![0.3, -1.0, 2.0]),
            (Axis(1), array![1.5, -0.7]),
        ] {
            for ddof in [0.0, 1.0] {
                let gv = var_axis_grad(&a, axis, ddof, &d);
                let y = a.std_axis(axis, ddof);
                let gs = std_axis_grad(&a, &y, axis, ddof, &d);
                for i in 0..2 {
                    for j in 0..3 {
                        let fv = |m: &Array2<f64>| (m.var_axis(axis, ddof) * &d).sum();
                        let fs = |m: &Array2<f64>| (m.std_axis(axis, ddof) * &d).sum();
                        assert!((gv[[i, j]] - slope(fv, &a, (i, j))).abs() < 1e-7);
                        assert!((gs[[i, j]] - slope(fs, &a, (i, j))).abs() < 1e-7);
                    }
                }
            }
        }
    }

    #[test]
    fn select_scatters_and_adds_repeats() {
        let g = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let out = select_grad(&g, Axis(0), &[2, 0, 2], ndarray::Ix2(4, 2));
        assert_eq!(out, array![[3.0, 4.0], [0.0, 0.0], [6.0, 8.0], [0.0, 0.0]]);
        assert_eq!(
            concat_part(&g, Axis(0), 1, 2),
            array![[3.0, 4.0], [5.0, 6.0]]
        );
        assert_eq!(
            reshape_grad(&g, ndarray::Ix1(6)),
            array![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }
}
