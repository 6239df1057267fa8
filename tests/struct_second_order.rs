//! Second order of models written as structs (DESIGN.md, "Structs and methods" with "Forward
//! mode and second order"): a loss with `#[backprop(hvp)]` that passes its model, or a layer of
//! it, whole to other `#[backprop(hvp)]` functions and methods (`dense(&net.l1, x)`,
//! `self.l1.forward(x)`), including ones that return arrays; and a gradient penalty whose
//! critic is a struct (`critic_grad(net, x)`, `self.score_grad(x)`). Checked against
//! hyper-dual and dual numbers over the flattened parameters and central differences.

#![allow(clippy::needless_range_loop)]

mod common;

use backprop::ndarray::{Array1, Array2};
use backprop::{Differentiable, backprop};
use common::{central_hv, close, hyper};
use num_dual::{DualNum, HyperDual64};

#[derive(Clone, Debug, Differentiable)]
struct Layer {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[derive(Clone, Debug, Differentiable)]
struct Mlp {
    l1: Layer,
    l2: Layer,
    #[backprop(skip)]
    name: &'static str,
}

/// A layer as a free function: returns an array, so `hvp` writes only its tangent function
/// (and that function's reverse pass) for callers with `hvp`.
#[backprop(hvp)]
fn dense(layer: &Layer, x: &Array2<f64>) -> Array2<f64> {
    (x.dot(&layer.w) + &layer.b).mapv(f64::tanh)
}

#[backprop(hvp)]
fn mlp_loss(net: &Mlp, x: &Array2<f64>, t: &Array2<f64>) -> f64 {
    let h: Array2<f64> = dense(&net.l1, x);
    let y: Array2<f64> = dense(&net.l2, &h);
    let r = &y - t;
    (&r * &r).sum() / 2.0
}

#[backprop]
impl Layer {
    #[backprop(hvp)]
    fn forward(&self, x: &Array2<f64>) -> Array2<f64> {
        (x.dot(&self.w) + &self.b).mapv(f64::tanh)
    }
}

#[backprop]
impl Mlp {
    /// The same loss as a method calling its layers' methods.
    #[backprop(hvp)]
    fn loss(&self, x: &Array2<f64>, t: &Array2<f64>) -> f64 {
        let h: Array2<f64> = self.l1.forward(x);
        let y: Array2<f64> = self.l2.forward(&h);
        let r = &y - t;
        (&r * &r).sum() / 2.0
    }

    /// The model held fixed: second order in the input alone.
    #[backprop(hvp, wrt(x))]
    fn input_energy(&self, x: &Array2<f64>) -> f64 {
        let h: Array2<f64> = self.l1.forward(x);
        (&h * &h).sum()
    }
}

const SHAPES: [(usize, usize); 6] = [(3, 4), (1, 4), (4, 2), (1, 2), (2, 3), (2, 2)];

/// Entries of a made-up size, away from tanh's flat tails.
fn filled(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| 0.6 * ((i as f64 + 1.0) * seed).sin())
        .collect()
}

fn model(flat: &[f64]) -> (Mlp, Array2<f64>, Array2<f64>) {
    let mut parts = Vec::new();
    let mut at = 0;
    for (r, c) in SHAPES {
        parts.push(Array2::from_shape_vec((r, c), flat[at..at + r * c].to_vec()).unwrap());
        at += r * c;
    }
    let row = |a: &Array2<f64>| a.row(0).to_owned();
    let net = Mlp {
        l1: Layer {
            w: parts[0].clone(),
            b: row(&parts[1]),
        },
        l2: Layer {
            w: parts[2].clone(),
            b: row(&parts[3]),
        },
        name: "mlp",
    };
    (net, parts[4].clone(), parts[5].clone())
}

/// The loss on hyper-dual numbers, over `[l1.w, l1.b, l2.w, l2.b, x, t]` flattened.
fn mlp_reference(p: &[HyperDual64]) -> HyperDual64 {
    let mut at = 0;
    let mut take = |n: usize| {
        let part = &p[at..at + n];
        at += n;
        part
    };
    let (w1, b1, w2, b2, x, t) = (take(12), take(4), take(8), take(2), take(6), take(4));
    let layer = |input: &[HyperDual64],
                 rows: usize,
                 k: usize,
                 w: &[HyperDual64],
                 b: &[HyperDual64],
                 n: usize| {
        let mut out = Vec::new();
        for i in 0..rows {
            for j in 0..n {
                let mut s = b[j];
                for l in 0..k {
                    s += input[i * k + l] * w[l * n + j];
                }
                out.push(s.tanh());
            }
        }
        out
    };
    let h = layer(x, 2, 3, w1, b1, 4);
    let y = layer(&h, 2, 4, w2, b2, 2);
    let mut total = HyperDual64::from(0.0);
    for (y, t) in y.iter().zip(t) {
        let r = *y - *t;
        total += r * r;
    }
    total / 2.0
}

fn flat_of(net: &Mlp, x: &Array2<f64>, t: &Array2<f64>) -> Vec<f64> {
    net.to_flat()
        .into_iter()
        .chain(x.iter().copied())
        .chain(t.iter().copied())
        .collect()
}

#[test]
fn a_model_passed_whole_to_layers_under_hvp() {
    let at = filled(36, 0.77);
    let direction = filled(36, 1.31);
    let (net, x, t) = model(&at);
    let (v_net, v_x, v_t) = model(&direction);
    let (ref_value, ref_gradient, ref_hv) = hyper(mlp_reference, &at, &direction);

    let (value, (g_net, g_x, g_t), (hv_net, hv_x, hv_t)) =
        mlp_loss_hvp(&net, &x, &t, &v_net, &v_x, &v_t);
    assert!((value - ref_value).abs() < 1e-14);
    assert_eq!((g_net.name, hv_net.name), ("mlp", "mlp"));
    close(
        "gradient",
        &flat_of(&g_net, &g_x, &g_t),
        &ref_gradient,
        1e-13,
    );
    close("H·v", &flat_of(&hv_net, &hv_x, &hv_t), &ref_hv, 1e-12);
    let numeric = central_hv(
        |p| {
            let (net, x, t) = model(p);
            let (_, (g, gx, gt)) = mlp_loss_grad(&net, &x, &t);
            flat_of(&g, &gx, &gt)
        },
        &at,
        &direction,
        1e-5,
    );
    close(
        "H·v, central differences",
        &flat_of(&hv_net, &hv_x, &hv_t),
        &numeric,
        1e-7,
    );

    // The method form, calling the layers' methods: the same numbers.
    let (value_m, (g_m, gx_m, gt_m), (hv_m, hvx_m, hvt_m)) =
        net.loss_hvp(&x, &t, &v_net, &v_x, &v_t);
    assert!((value_m - ref_value).abs() < 1e-14);
    close(
        "method gradient",
        &flat_of(&g_m, &gx_m, &gt_m),
        &ref_gradient,
        1e-13,
    );
    close(
        "method H·v",
        &flat_of(&hv_m, &hvx_m, &hvt_m),
        &ref_hv,
        1e-12,
    );

    // `loss_grad_backward` with a model-shaped upstream: d_value ∇f + H · d_gradient.
    let d_value = 0.4;
    let ((_, (g2, _, _)), (row, row_x, row_t)) =
        net.loss_grad_backward(&x, &t, (d_value, (v_net.clone(), v_x.clone(), v_t.clone())));
    close(
        "grad_backward's gradient",
        &g2.to_flat(),
        &g_net.to_flat(),
        0.0,
    );
    let expected: Vec<f64> = ref_gradient
        .iter()
        .zip(&ref_hv)
        .map(|(g, h)| d_value * g + h)
        .collect();
    close(
        "grad_backward",
        &flat_of(&row, &row_x, &row_t),
        &expected,
        1e-12,
    );
}

#[test]
fn a_model_held_fixed_under_hvp() {
    let at = filled(36, 0.77);
    let (net, x, _) = model(&at);
    let v_x = Array2::from_shape_vec((2, 3), filled(6, 2.3)).unwrap();
    // Only `x` moves: its entries are components 24..30 of the flat reference.
    let reference = |p: &[HyperDual64]| {
        let mut s = HyperDual64::from(0.0);
        for i in 0..2 {
            for j in 0..4 {
                let mut h = HyperDual64::from(net.l1.b[j]);
                for l in 0..3 {
                    h += p[i * 3 + l] * net.l1.w[[l, j]];
                }
                let h = h.tanh();
                s += h * h;
            }
        }
        s
    };
    let x_flat: Vec<f64> = x.iter().copied().collect();
    let v_flat: Vec<f64> = v_x.iter().copied().collect();
    let (ref_value, ref_gradient, ref_hv) = hyper(reference, &x_flat, &v_flat);
    let (value, g_x, hv_x) = net.input_energy_hvp(&x, &v_x);
    assert!((value - ref_value).abs() < 1e-14);
    close("gradient", g_x.as_slice().unwrap(), &ref_gradient, 1e-13);
    close("H·v", hv_x.as_slice().unwrap(), &ref_hv, 1e-12);
}

/// A float function of a struct with a `Vec` field, called with the struct by reference from
/// a loss that takes it by value, in f64 and f32.
#[derive(Clone, Debug, Differentiable)]
struct Neuron {
    w: Vec<f64>,
    b: f64,
}

#[derive(Clone, Debug, Differentiable)]
struct Neuron32 {
    w: Vec<f32>,
    b: f32,
}

#[backprop(hvp)]
fn score(n: &Neuron, x: &[f64]) -> f64 {
    let mut s = n.b;
    for i in 0..x.len() {
        s += n.w[i] * x[i];
    }
    s.tanh()
}

#[backprop(hvp)]
fn scaled_score(n: Neuron, x: &[f64]) -> f64 {
    let s = score(&n, x);
    let r = s - 0.5;
    r * r * n.b
}

#[backprop(hvp)]
fn score32(n: &Neuron32, x: &[f32]) -> f32 {
    let mut s = n.b;
    for i in 0..x.len() {
        s += n.w[i] * x[i];
    }
    s.tanh()
}

#[backprop(hvp)]
fn scaled_score32(n: Neuron32, x: &[f32]) -> f32 {
    let s = score32(&n, x);
    let r = s - 0.5;
    r * r * n.b
}

fn scaled_score_ref(p: &[HyperDual64]) -> HyperDual64 {
    // [w0, w1, w2, b, x0, x1, x2]
    let mut s = p[3];
    for i in 0..3 {
        s += p[i] * p[4 + i];
    }
    let r = s.tanh() - 0.5;
    r * r * p[3]
}

#[test]
fn a_float_function_of_a_struct_under_hvp_f64_and_f32() {
    let at = [0.3, -0.2, 0.5, 0.1, 1.0, 0.7, -0.4];
    let v = [1.0, 0.0, 0.5, 0.2, -0.3, 0.1, 0.6];
    let neuron = |p: &[f64]| Neuron {
        w: p[..3].to_vec(),
        b: p[3],
    };
    let (ref_value, ref_gradient, ref_hv) = hyper(scaled_score_ref, &at, &v);
    let (value, (g_n, g_x), (hv_n, hv_x)) =
        scaled_score_hvp(neuron(&at), &at[4..], neuron(&v), &v[4..]);
    assert!((value - ref_value).abs() < 1e-14);
    let flat = |n: &Neuron, x: &[f64]| {
        n.to_flat()
            .into_iter()
            .chain(x.to_vec())
            .collect::<Vec<_>>()
    };
    close("gradient", &flat(&g_n, &g_x), &ref_gradient, 1e-13);
    close("H·v", &flat(&hv_n, &hv_x), &ref_hv, 1e-13);

    let narrow = |p: &[f64]| p.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (at32, v32) = (narrow(&at), narrow(&v));
    let neuron32 = |p: &[f32]| Neuron32 {
        w: p[..3].to_vec(),
        b: p[3],
    };
    let (value32, (g32, gx32), (hv32, hvx32)) =
        scaled_score32_hvp(neuron32(&at32), &at32[4..], neuron32(&v32), &v32[4..]);
    assert!((f64::from(value32) - ref_value).abs() < 1e-6);
    let widen = |n: &Neuron32, x: &[f32]| {
        n.to_flat()
            .into_iter()
            .chain(x.to_vec())
            .map(f64::from)
            .collect::<Vec<f64>>()
    };
    close("f32 gradient", &widen(&g32, &gx32), &ref_gradient, 1e-5);
    close("f32 H·v", &widen(&hv32, &hvx32), &ref_hv, 1e-4);
}

/// A critic whose parameters are a (generic) struct, with `hvp` for its second-order
/// companions: `c(net, x) = Σᵢ wᵢ tanh(vᵢ xᵢ)`.
#[derive(Clone, Debug, Differentiable)]
struct Critic<F> {
    w: Vec<F>,
    v: Vec<F>,
}

#[backprop(hvp)]
fn critic(net: &Critic<f64>, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += net.w[i] * (net.v[i] * x[i]).tanh();
    }
    s
}

/// WGAN-GP's gradient penalty with the critic a struct: `critic_grad`'s gradient with respect
/// to the model is not read (`_`), its gradient with respect to the input is. With `jvp`, its
/// forward mode goes through `critic_grad_jvp`.
#[backprop(jvp)]
fn penalised(net: &Critic<f64>, x: &[f64]) -> f64 {
    let (value, (_, gx)) = critic_grad(net, x);
    let norm = gx.iter().map(|g| g * g).sum::<f64>().sqrt();
    value + 10.0 * (norm - 1.0).powi(2)
}

#[backprop(hvp)]
fn critic_f32(net: &Critic<f32>, x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for i in 0..x.len() {
        s += net.w[i] * (net.v[i] * x[i]).tanh();
    }
    s
}

#[backprop]
fn penalised_f32(net: &Critic<f32>, x: &[f32]) -> f32 {
    let (value, (_, gx)) = critic_f32_grad(net, x);
    let norm = gx.iter().map(|g| g * g).sum::<f32>().sqrt();
    value + 10.0 * (norm - 1.0).powi(2)
}

/// The same critic and penalty as methods: `self.score_grad(x)` taken apart by its pattern.
#[backprop]
impl Critic<f64> {
    #[backprop(hvp)]
    fn score(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..x.len() {
            s += self.w[i] * (self.v[i] * x[i]).tanh();
        }
        s
    }

    #[backprop(jvp)]
    fn penalty(&self, x: &[f64]) -> f64 {
        let (value, (_, gx)) = self.score_grad(x);
        let norm = gx.iter().map(|g| g * g).sum::<f64>().sqrt();
        value + 10.0 * (norm - 1.0).powi(2)
    }
}

/// The penalty on dual numbers over `[w, v, x]`, with ∇ₓ c in closed form:
/// `wᵢ vᵢ (1 − tanh²(vᵢ xᵢ))`.
fn penalised_reference(p: &[num_dual::Dual64], n: usize) -> num_dual::Dual64 {
    let (w, v, x) = (&p[..n], &p[n..2 * n], &p[2 * n..]);
    let mut value = num_dual::Dual64::from(0.0);
    let mut norm2 = num_dual::Dual64::from(0.0);
    for i in 0..n {
        let t = (v[i] * x[i]).tanh();
        value += w[i] * t;
        let g = w[i] * v[i] * (-t * t + 1.0);
        norm2 += g * g;
    }
    value + (norm2.sqrt() - 1.0).powi(2) * 10.0
}

#[test]
fn gradient_penalty_of_a_struct_critic() {
    let net = Critic {
        w: vec![0.5, -1.0, 0.75],
        v: vec![1.25, 0.5, -0.8],
    };
    for x in [[0.3, -0.2, 0.9], [1.0, 0.5, -1.5]] {
        let at: Vec<f64> = net.w.iter().chain(&net.v).chain(&x).copied().collect();
        let (value, (d_net, d_x)) = penalised_grad(&net, &x);
        let (ref_value, ref_gradient) = common::dual_gradient(|p| penalised_reference(p, 3), &at);
        close("penalty", &[value], &[ref_value], 1e-12);
        let flat: Vec<f64> = d_net
            .w
            .iter()
            .chain(&d_net.v)
            .chain(&d_x)
            .copied()
            .collect();
        close("penalty's gradient", &flat, &ref_gradient, 1e-10);
        let numeric = backprop::numeric_gradient(
            |p: &[f64]| {
                let net = Critic {
                    w: p[..3].to_vec(),
                    v: p[3..6].to_vec(),
                };
                penalised(&net, &p[6..])
            },
            &at,
        );
        close("against central differences", &flat, &numeric, 1e-6);
        let (method_value, (d_self, d_x_method)) = net.penalty_grad(&x);
        let method_flat: Vec<f64> = d_self
            .w
            .iter()
            .chain(&d_self.v)
            .chain(&d_x_method)
            .copied()
            .collect();
        close("the method's penalty", &[method_value], &[ref_value], 1e-12);
        close("the method's gradient", &method_flat, &ref_gradient, 1e-10);

        // Forward mode: the derivative in a direction of the model and the input.
        let t_net = Critic {
            w: vec![0.3, -0.7, 0.2],
            v: vec![-0.4, 0.9, 0.6],
        };
        let t_x = [0.5, 0.25, -1.0];
        let direction: Vec<f64> = t_net
            .w
            .iter()
            .chain(&t_net.v)
            .chain(&t_x)
            .copied()
            .collect();
        let directional: f64 = ref_gradient
            .iter()
            .zip(&direction)
            .map(|(g, t)| g * t)
            .sum();
        let (jvp_value, tangent) = penalised_jvp(&net, &x, &t_net, &t_x);
        close(
            "penalised_jvp",
            &[jvp_value, tangent],
            &[ref_value, directional],
            1e-10,
        );
        let (jvp_value, tangent) = net.penalty_jvp(&x, &t_net, &t_x);
        close(
            "penalty_jvp",
            &[jvp_value, tangent],
            &[ref_value, directional],
            1e-10,
        );

        // f32, against the same exact reference.
        let net32 = Critic {
            w: net.w.iter().map(|&v| v as f32).collect(),
            v: net.v.iter().map(|&v| v as f32).collect(),
        };
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (value32, (d_net32, d_x32)) = penalised_f32_grad(&net32, &x32);
        let flat32: Vec<f64> = d_net32
            .w
            .iter()
            .chain(&d_net32.v)
            .chain(&d_x32)
            .map(|&v| v as f64)
            .collect();
        close("f32 penalty", &[value32 as f64], &[ref_value], 1e-5);
        close("f32 penalty's gradient", &flat32, &ref_gradient, 1e-4);
    }
    // The model's part of `critic_grad`'s upstream is a zero of its shape.
    let source = penalised_backward_source();
    assert!(source.contains("critic_grad_backward("), "{source}");
    assert!(
        source.contains("::backprop::Differentiable::zeros_like(&"),
        "{source}"
    );
}
