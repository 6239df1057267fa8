//! Generic models (DESIGN.md, "Structs and methods"): `#[derive(Differentiable)]` on a struct
//! generic in its float (`struct Layer<F> { w: Vec<F>, b: F }`), whose parameters name it with
//! its argument (`&Layer<f64>`, `Mlp<f32>`). The macro reads the fields with the argument in
//! place of `F`. Checked against dual and hyper-dual numbers, in f64 and f32.

#![allow(clippy::needless_range_loop)]

mod common;

use backprop::{Differentiable, backprop};
use common::{close, dual_gradient, hyper};
use num_dual::{Dual64, DualNum, HyperDual64};

#[derive(Clone, Debug, Differentiable)]
struct Layer<F> {
    w: Vec<F>,
    b: F,
}

#[derive(Clone, Debug, Differentiable)]
struct Mlp<F> {
    first: Layer<F>,
    second: Layer<F>,
    #[backprop(skip)]
    width: usize,
}

#[backprop(jvp, hvp)]
fn neuron(l: &Layer<f64>, x: &[f64]) -> f64 {
    let mut s = l.b;
    for i in 0..x.len() {
        s += l.w[i] * x[i];
    }
    s.tanh()
}

/// A nested generic model, its layers passed whole.
#[backprop(hvp)]
fn mlp(net: &Mlp<f64>, x: &[f64]) -> f64 {
    let h = neuron(&net.first, x);
    let mut s = net.second.b;
    for i in 0..net.width {
        s += net.second.w[i] * h * x[i];
    }
    s * s
}

#[backprop]
fn neuron32(l: Layer<f32>, x: &[f32]) -> f32 {
    let mut s = l.b;
    for i in 0..x.len() {
        s += l.w[i] * x[i];
    }
    s.tanh()
}

#[backprop]
impl Layer<f64> {
    #[backprop]
    fn energy(&self, x: f64) -> f64 {
        (self.w[0] * x + self.b).powi(2) + self.w[1]
    }
}

fn mlp_ref<D: DualNum<Primitive = f64> + Copy>(p: &[D], x: &[f64]) -> D {
    // [first.w (3), first.b, second.w (3), second.b]
    let mut s = p[3];
    for i in 0..3 {
        s += p[i] * x[i];
    }
    let h = s.tanh();
    let mut out = p[7];
    for i in 0..3 {
        out += p[4 + i] * h * x[i];
    }
    out * out
}

fn model(p: &[f64]) -> Mlp<f64> {
    Mlp {
        first: Layer {
            w: p[0..3].to_vec(),
            b: p[3],
        },
        second: Layer {
            w: p[4..7].to_vec(),
            b: p[7],
        },
        width: 3,
    }
}

#[test]
fn a_generic_model_has_a_gradient_of_its_own_type() {
    let at = [0.3, -0.6, 0.45, 0.1, -0.2, 0.8, 0.35, -0.15];
    let x = [0.7, -0.4, 1.1];
    let net = model(&at);
    let (value, (g, _)) = mlp_grad(&net, &x);
    assert_eq!(value, mlp(&net, &x));
    assert_eq!(g.width, 3);
    let (_, exact) = dual_gradient(|p: &[Dual64]| mlp_ref(p, &x), &at);
    close("gradient", &g.to_flat(), &exact, 1e-14);

    // Second order through the layer passed whole.
    let v = [0.5, 0.25, -1.0, 0.3, 0.2, -0.7, 0.1, 0.9];
    let (value2, (g2, _), (hv, _)) = mlp_hvp(&net, &x, &model(&v), &[0.0; 3]);
    let (ref_value, ref_gradient, ref_hv) = hyper(|p: &[HyperDual64]| mlp_ref(p, &x), &at, &v);
    assert!((value2 - ref_value).abs() < 1e-14);
    close("hvp gradient", &g2.to_flat(), &ref_gradient, 1e-14);
    close("H·v", &hv.to_flat(), &ref_hv, 1e-13);

    // Forward mode: the tangent is a `Layer<f64>`.
    let layer = net.first.clone();
    let t = Layer {
        w: vec![1.0, -0.5, 0.25],
        b: 0.75,
    };
    let (_, jv) = neuron_jvp(&layer, &x, &t, &[0.0; 3]);
    let (_, (g_layer, _)) = neuron_grad(&layer, &x);
    let expected: f64 = g_layer
        .to_flat()
        .iter()
        .zip(t.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((jv - expected).abs() < 1e-14);
}

#[test]
fn a_generic_struct_in_f32_by_value_and_in_an_impl() {
    let layer = Layer {
        w: vec![0.3f32, -0.6, 0.45],
        b: 0.1,
    };
    let x = [0.7f32, -0.4, 1.1];
    let (value, (g, _)) = neuron32_grad(layer.clone(), &x);
    assert_eq!(value, neuron32(layer.clone(), &x));
    let at: Vec<f64> = layer.to_flat().into_iter().map(f64::from).collect();
    let (_, exact) = dual_gradient(
        |p: &[Dual64]| {
            let mut s = p[3];
            for i in 0..3 {
                s += p[i] * f64::from(x[i]);
            }
            s.tanh()
        },
        &at,
    );
    let g: Vec<f64> = g.to_flat().into_iter().map(f64::from).collect();
    close("f32 gradient", &g, &exact, 1e-6);

    let layer = Layer {
        w: vec![0.4, 0.2],
        b: -0.3,
    };
    let (_, (d_self, d_x)) = layer.energy_grad(1.5);
    let h = 0.4 * 1.5 - 0.3;
    close(
        "method",
        &d_self.to_flat(),
        &[2.0 * h * 1.5, 1.0, 2.0 * h],
        1e-15,
    );
    assert!((d_x - 2.0 * h * 0.4).abs() < 1e-15);
}
