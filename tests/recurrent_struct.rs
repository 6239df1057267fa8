//! A recurrent net as a struct, its loss a method written as a numpy RNN is ported: the hidden
//! state carried by the loop and replaced each step (`h = tanh(x_t Wx + h Wh + b)`), a
//! prediction and a squared error per step, the data held fixed by `#[backprop(wrt(self))]`
//! (DESIGN.md, "Structs and methods": `self` nameable in `wrt(self, ..)`). Checked against
//! dual and hyper-dual numbers over the parameters flattened by `Differentiable::to_flat`, and
//! against central differences through `from_flat`.

mod common;

use backprop::ndarray::{Array1, Array2};
use backprop::{Differentiable, backprop};
use common::{central_directional, central_hv, close, dual_gradient, hyper};
use num_dual::{DualNum, DualNumFloat};

#[derive(Clone, Debug, Differentiable)]
struct Rnn {
    wx: Array2<f64>,
    wh: Array2<f64>,
    b: Array1<f64>,
    wy: Array2<f64>,
}

#[backprop]
impl Rnn {
    /// The mean over the steps of the squared prediction error.
    #[backprop(wrt(self), hvp)]
    fn loss(&self, xs: &Array2<f64>, ys: &Array2<f64>) -> f64 {
        let mut h = Array1::zeros(self.b.len());
        let mut total = 0.0;
        for t in 0..xs.nrows() {
            h = (xs.row(t).dot(&self.wx) + h.dot(&self.wh) + &self.b).mapv(f64::tanh);
            let pred = h.dot(&self.wy);
            let err = &pred - &ys.row(t);
            total += (&err * &err).sum();
        }
        total / xs.nrows() as f64
    }

    /// The same loss, differentiated with respect to the inputs too (saliency).
    #[backprop(wrt(self, xs))]
    fn loss_and_saliency(&self, xs: &Array2<f64>, ys: &Array2<f64>) -> f64 {
        let mut h = Array1::zeros(self.b.len());
        let mut total = 0.0;
        for t in 0..xs.nrows() {
            h = (xs.row(t).dot(&self.wx) + h.dot(&self.wh) + &self.b).mapv(f64::tanh);
            let pred = h.dot(&self.wy);
            let err = &pred - &ys.row(t);
            total += (&err * &err).sum();
        }
        total / xs.nrows() as f64
    }
}

const D: usize = 2;
const H: usize = 3;
const O: usize = 1;
const T: usize = 5;

fn model() -> Rnn {
    Rnn {
        wx: Array2::from_shape_fn((D, H), |(i, j)| 0.3 * ((i * H + j) as f64 * 1.7).sin()),
        wh: Array2::from_shape_fn((H, H), |(i, j)| {
            0.4 * ((i * H + j) as f64 * 0.9 + 0.3).cos()
        }),
        b: Array1::from_shape_fn(H, |j| 0.1 * j as f64 - 0.1),
        wy: Array2::from_shape_fn((H, O), |(i, _)| 0.5 - 0.3 * i as f64),
    }
}

fn data() -> (Array2<f64>, Array2<f64>) {
    let xs = Array2::from_shape_fn((T, D), |(t, j)| ((t * D + j) as f64 * 0.8).sin());
    let ys = Array2::from_shape_fn((T, O), |(t, _)| 0.5 * (t as f64 * 1.1).cos());
    (xs, ys)
}

/// The loss over any dual number type, from `[wx, wh, b, wy]` flattened (`to_flat`'s order)
/// and the inputs `xs` flattened.
fn reference<N: DualNum<Primitive = F> + Copy, F: DualNumFloat>(p: &[N], xs: &[N], ys: &[F]) -> N {
    let (wx, rest) = p.split_at(D * H);
    let (wh, rest) = rest.split_at(H * H);
    let (b, wy) = rest.split_at(H);
    let mut h = vec![N::zero(); H];
    let mut total = N::zero();
    for t in 0..T {
        let next: Vec<N> = (0..H)
            .map(|j| {
                let mut s = b[j];
                for i in 0..D {
                    s += xs[t * D + i] * wx[i * H + j];
                }
                for i in 0..H {
                    s += h[i] * wh[i * H + j];
                }
                s.tanh()
            })
            .collect();
        h = next;
        for o in 0..O {
            let mut pred = N::zero();
            for i in 0..H {
                pred += h[i] * wy[i * O + o];
            }
            let err = pred - ys[t * O + o];
            total += err * err;
        }
    }
    total / F::from_usize(T).unwrap()
}

#[test]
fn the_gradient_of_self_against_dual_numbers_and_central_differences() {
    let rnn = model();
    let (xs, ys) = data();
    let (value, grad) = rnn.loss_grad(&xs, &ys);
    assert_eq!(value, rnn.loss(&xs, &ys));
    let p = rnn.to_flat();
    let (x_flat, y_flat) = (
        xs.iter().copied().collect::<Vec<_>>(),
        ys.iter().copied().collect::<Vec<_>>(),
    );
    let (exact_value, exact) = dual_gradient(
        |p: &[num_dual::Dual64]| {
            let xs: Vec<num_dual::Dual64> = x_flat.iter().map(|&v| v.into()).collect();
            reference(p, &xs, &y_flat)
        },
        &p,
    );
    assert!((value - exact_value).abs() < 1e-14);
    close(
        "d self against dual numbers",
        &grad.to_flat(),
        &exact,
        1e-12,
    );
    let numeric: Vec<f64> = (0..p.len())
        .map(|k| {
            let unit: Vec<f64> = (0..p.len())
                .map(|j| if j == k { 1.0 } else { 0.0 })
                .collect();
            central_directional(|q| rnn.from_flat(q).loss(&xs, &ys), &p, &unit, 1e-6)
        })
        .collect();
    close(
        "d self against central differences",
        &grad.to_flat(),
        &numeric,
        1e-7,
    );
}

#[test]
fn self_and_the_inputs() {
    let rnn = model();
    let (xs, ys) = data();
    let (value, (d_rnn, d_xs)) = rnn.loss_and_saliency_grad(&xs, &ys);
    let p: Vec<f64> = rnn
        .to_flat()
        .into_iter()
        .chain(xs.iter().copied())
        .collect();
    let n = rnn.to_flat().len();
    let y_flat: Vec<f64> = ys.iter().copied().collect();
    let (exact_value, exact) = dual_gradient(
        |p: &[num_dual::Dual64]| reference(&p[..n], &p[n..], &y_flat),
        &p,
    );
    assert!((value - exact_value).abs() < 1e-14);
    close("d self", &d_rnn.to_flat(), &exact[..n], 1e-12);
    close("d xs", d_xs.as_slice().unwrap(), &exact[n..], 1e-12);
}

#[test]
fn hvp_of_self_against_hyper_dual_numbers() {
    let rnn = model();
    let (xs, ys) = data();
    let p = rnn.to_flat();
    let v: Vec<f64> = (0..p.len()).map(|k| ((k as f64) * 0.37).sin()).collect();
    let direction = rnn.from_flat(&v);
    let (value, grad, hv) = rnn.loss_hvp(&xs, &ys, &direction);
    let x_flat: Vec<f64> = xs.iter().copied().collect();
    let y_flat: Vec<f64> = ys.iter().copied().collect();
    let (exact_value, exact_grad, exact_hv) = hyper(
        |p| {
            let xs: Vec<num_dual::HyperDual64> = x_flat.iter().map(|&v| v.into()).collect();
            reference(p, &xs, &y_flat)
        },
        &p,
        &v,
    );
    assert!((value - exact_value).abs() < 1e-14);
    close("gradient", &grad.to_flat(), &exact_grad, 1e-12);
    close(
        "H·v against hyper-dual numbers",
        &hv.to_flat(),
        &exact_hv,
        1e-11,
    );
    let numeric = central_hv(
        |q| rnn.from_flat(q).loss_grad(&xs, &ys).1.to_flat(),
        &p,
        &v,
        1e-5,
    );
    close(
        "H·v against central differences",
        &hv.to_flat(),
        &numeric,
        1e-6,
    );
}

#[test]
fn backward_snapshot() {
    common::check_snapshot("rnn_struct_loss", Rnn::loss_backward_source());
}
