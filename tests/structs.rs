//! Struct parameters (DESIGN.md, "Structs and methods"): a `#[derive(Differentiable)]` struct
//! by reference or by value, read through its fields (`net.w1`, `&net.b`, `p.c[i]`, nested
//! `net.l1.w`), whose gradient is a value of the same struct. Checked against dual numbers
//! (num-dual's `Dual64`, seeded per flat component) and, through `to_flat` / `from_flat`,
//! against central differences with `assert_gradient!`.

#![allow(clippy::needless_range_loop)]

use backprop::ndarray::{Array1, Array2, array};
use backprop::{Differentiable, assert_gradient, backprop};
use num_dual::{Dual64, DualNum};

/// The gradient of `f` over flat parameters, one dual pass per component.
fn dual_gradient(f: impl Fn(&[Dual64]) -> Dual64, at: &[f64]) -> Vec<f64> {
    (0..at.len())
        .map(|i| {
            let p: Vec<Dual64> = (0..at.len())
                .map(|j| Dual64::new(at[j], if i == j { 1.0 } else { 0.0 }))
                .collect();
            f(&p).eps
        })
        .collect()
}

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * 1f64.max(x.abs().max(y.abs())),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

/// The course's two-layer net as a struct.
#[derive(Differentiable, Clone, Debug)]
struct TwoLayerNet {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
    #[backprop(skip)]
    name: String,
}

#[backprop(jvp)]
fn two_layer_loss(net: &TwoLayerNet, x: &Array2<f64>, t: &Array2<f64>) -> f64 {
    let h = (x.dot(&net.w1) + &net.b1).mapv(f64::tanh);
    let y = h.dot(&net.w2) + &net.b2;
    let r = &y - t;
    (&r * &r).sum() / 2.0
}

/// `two_layer_loss` over the flat parameters (w1 3×4, b1 4, w2 4×2, b2 2), row-major.
fn two_layer_ref(p: &[Dual64], x: &Array2<f64>, t: &Array2<f64>) -> Dual64 {
    let (n, d, hidden, out) = (x.nrows(), x.ncols(), 4, 2);
    let (w1, rest) = p.split_at(d * hidden);
    let (b1, rest) = rest.split_at(hidden);
    let (w2, b2) = rest.split_at(hidden * out);
    let mut loss = Dual64::from(0.0);
    for i in 0..n {
        let h: Vec<Dual64> = (0..hidden)
            .map(|k| {
                (0..d)
                    .fold(b1[k], |s, j| s + w1[j * hidden + k] * x[[i, j]])
                    .tanh()
            })
            .collect();
        for c in 0..out {
            let y = (0..hidden).fold(b2[c], |s, k| s + h[k] * w2[k * out + c]);
            let r = y - t[[i, c]];
            loss += r * r / 2.0;
        }
    }
    loss
}

fn grid(shape: (usize, usize), seed: f64) -> Array2<f64> {
    Array2::from_shape_fn(shape, |(i, j)| ((i * 5 + j) as f64 * seed + 0.3).sin())
}

fn net() -> TwoLayerNet {
    TwoLayerNet {
        w1: grid((3, 4), 0.7),
        b1: array![0.1, -0.2, 0.3, 0.05],
        w2: grid((4, 2), 1.3),
        b2: array![-0.1, 0.2],
        name: "course".to_string(),
    }
}

#[test]
fn a_struct_parameter_has_a_gradient_of_its_own_type() {
    let (net, x, t) = (net(), grid((5, 3), 0.9), grid((5, 2), 0.4));
    let (value, (g, d_x, _)) = two_layer_loss_grad(&net, &x, &t);
    assert_eq!(value, two_layer_loss(&net, &x, &t));
    // The skipped field is a copy of the parameter's.
    assert_eq!(g.name, "course");
    let flat = net.to_flat();
    let exact = dual_gradient(|p| two_layer_ref(p, &x, &t), &flat);
    close("d_net", &g.to_flat(), &exact, 1e-13);
    assert_gradient!(
        |p: &[f64]| two_layer_loss(&net.from_flat(p), &x, &t),
        &flat,
        &g
    );
    // The input's gradient beside it.
    assert_gradient!(
        |p: &[f64]| two_layer_loss(
            &net,
            &Array2::from_shape_vec((5, 3), p.to_vec()).unwrap(),
            &t
        ),
        x.as_slice().unwrap(),
        d_x.as_slice().unwrap()
    );
}

#[test]
fn an_sgd_step_with_the_gradient() {
    let (mut net, x, t) = (net(), grid((5, 3), 0.9), grid((5, 2), 0.4));
    let before = two_layer_loss(&net, &x, &t);
    for _ in 0..20 {
        let (_, (g, _, _)) = two_layer_loss_grad(&net, &x, &t);
        net.scaled_add(-0.05, &g);
    }
    assert!(two_layer_loss(&net, &x, &t) < 0.5 * before);
}

/// Every leaf type, a skipped field read in the body, a struct in a module named by its path.
mod model {
    use backprop::ndarray::Array1;

    #[derive(backprop::Differentiable, Clone, Debug)]
    pub struct Poly {
        pub c: [f64; 3],
        pub v: Vec<f64>,
        pub a: Array1<f64>,
        pub gain: f64,
        #[backprop(skip)]
        pub n: usize,
    }
}
use model::Poly;

#[backprop]
fn poly_by_ref(p: &Poly, x: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..p.n {
        s += p.c[i] * x.powi(i as i32) + p.v[i] * p.a[i];
    }
    s * p.gain
}

#[backprop]
fn poly_by_value(p: Poly, x: f64) -> f64 {
    (p.c[0] * x + p.v[1] * p.a.sum()) * p.gain
}

#[backprop(wrt(p))]
fn poly_by_path(p: &model::Poly, x: f64) -> f64 {
    p.c[1] * x * p.c[2] + p.gain.sin()
}

/// The flat order: c (3), v (3), a (3), gain.
fn poly_ref(p: &[Dual64], x: Dual64) -> Dual64 {
    let (c, v, a, gain) = (&p[0..3], &p[3..6], &p[6..9], p[9]);
    let mut s = Dual64::from(0.0);
    for i in 0..3 {
        s += c[i] * x.powi(i as i32) + v[i] * a[i];
    }
    s * gain
}

fn poly() -> Poly {
    Poly {
        c: [1.0, 2.0, -3.0],
        v: vec![0.5, 0.25, 2.0],
        a: array![1.0, -1.0, 0.5],
        gain: 0.75,
        n: 3,
    }
}

#[test]
fn every_leaf_type_by_reference() {
    let (p, x) = (poly(), 0.7);
    let (value, (g, d_x)) = poly_by_ref_grad(&p, x);
    assert_eq!(value, poly_by_ref(&p, x));
    assert_eq!(g.n, 3);
    let mut at = p.to_flat();
    at.push(x);
    let exact = dual_gradient(|q| poly_ref(&q[..10], q[10]), &at);
    close("d_p", &g.to_flat(), &exact[..10], 1e-14);
    close("d_x", &[d_x], &exact[10..], 1e-14);
}

#[test]
fn a_struct_by_value_and_by_its_path() {
    let (p, x) = (poly(), 0.7);
    let (value, (g, d_x)) = poly_by_value_grad(p.clone(), x);
    assert_eq!(value, poly_by_value(p.clone(), x));
    let flat = p.to_flat();
    let exact = dual_gradient(
        |q| {
            let a_sum = q[6] + q[7] + q[8];
            (q[0] * x + q[4] * a_sum) * q[9]
        },
        &flat,
    );
    close("d_p", &g.to_flat(), &exact, 1e-14);
    assert!((d_x - p.c[0] * p.gain).abs() < 1e-15);
    // `wrt(p)`: the struct's gradient alone.
    let (_, g) = poly_by_path_grad(&p, x);
    assert_gradient!(|q: &[f64]| poly_by_path(&p.from_flat(q), x), &flat, &g);
}

/// Nested structs: `net.l1.w`, a gradient of nested structs.
#[derive(Differentiable, Clone, Debug)]
struct Layer {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[derive(Differentiable, Clone, Debug)]
struct Mlp {
    l1: Layer,
    l2: Layer,
    #[backprop(skip)]
    label: &'static str,
}

#[backprop(jvp)]
fn mlp_loss(net: &Mlp, x: &Array2<f64>) -> f64 {
    let h = (x.dot(&net.l1.w) + &net.l1.b).mapv(f64::tanh);
    let y = h.dot(&net.l2.w) + &net.l2.b;
    (&y * &y).sum()
}

#[test]
fn nested_structs() {
    let layer = |s: f64| Layer {
        w: grid((2, 2), s),
        b: array![0.1 * s, -0.2],
    };
    let net = Mlp {
        l1: layer(1.0),
        l2: layer(0.5),
        label: "mlp",
    };
    let x = grid((3, 2), 0.8);
    let (_, (g, _)) = mlp_loss_grad(&net, &x);
    assert_eq!(g.label, "mlp");
    let flat = net.to_flat();
    let exact = dual_gradient(
        |p| {
            let (w1, b1, w2, b2) = (&p[0..4], &p[4..6], &p[6..10], &p[10..12]);
            let mut total = Dual64::from(0.0);
            for i in 0..3 {
                let h: Vec<Dual64> = (0..2)
                    .map(|k| (b1[k] + w1[k] * x[[i, 0]] + w1[2 + k] * x[[i, 1]]).tanh())
                    .collect();
                for c in 0..2 {
                    let y = b2[c] + h[0] * w2[c] + h[1] * w2[2 + c];
                    total += y * y;
                }
            }
            total
        },
        &flat,
    );
    close("d_net", &g.to_flat(), &exact, 1e-13);
}

/// A model composed of layers, each layer's code a function of its own struct: `dense(&net.l1,
/// x)` passes a field that is a struct whole, `mlp_total(&net, x)` the parameter itself, and
/// `by_value(net, ..)` takes the struct by value and passes it on. The callee's gradient
/// (a `Layer`, an `Mlp`) is taken apart into the fields' gradients.
#[backprop(jvp)]
fn dense(layer: &Layer, x: &Array2<f64>) -> Array2<f64> {
    (x.dot(&layer.w) + &layer.b).mapv(f64::tanh)
}

#[backprop(jvp)]
fn mlp_by_layers(net: &Mlp, x: &Array2<f64>) -> f64 {
    let h: Array2<f64> = dense(&net.l1, x);
    let y = h.dot(&net.l2.w) + &net.l2.b;
    (&y * &y).sum()
}

#[backprop(jvp)]
fn mlp_total(net: &Mlp, x: &Array2<f64>) -> f64 {
    let h: Array2<f64> = dense(&net.l1, x);
    let y: Array2<f64> = dense(&net.l2, &h);
    mlp_by_layers(net, x) + 0.5 * (&y * &y).sum()
}

#[backprop(jvp)]
fn by_value(net: Mlp, x: &Array2<f64>, s: f64) -> f64 {
    let h: Array2<f64> = dense(&net.l1, x);
    s * mlp_total(&net, x) + (&h * net.l2.b.sum()).sum()
}

/// `mlp_by_layers` over the flat parameters (w1 2×2, b1 2, w2 2×2, b2 2).
fn mlp_ref(
    p: &[Dual64],
    x: &Array2<f64>,
    second_dense: bool,
) -> (Dual64, Dual64, Vec<Vec<Dual64>>) {
    let (w1, b1, w2, b2) = (&p[0..4], &p[4..6], &p[6..10], &p[10..12]);
    let (mut by_layers, mut both) = (Dual64::from(0.0), Dual64::from(0.0));
    let mut hs = Vec::new();
    for i in 0..3 {
        let h: Vec<Dual64> = (0..2)
            .map(|k| (b1[k] + w1[k] * x[[i, 0]] + w1[2 + k] * x[[i, 1]]).tanh())
            .collect();
        for c in 0..2 {
            let y = b2[c] + h[0] * w2[c] + h[1] * w2[2 + c];
            by_layers += y * y;
            if second_dense {
                both += y.tanh() * y.tanh();
            }
        }
        hs.push(h);
    }
    (by_layers, both, hs)
}

#[test]
fn structs_passed_whole_to_functions() {
    let layer = |s: f64| Layer {
        w: grid((2, 2), s),
        b: array![0.1 * s, -0.2],
    };
    let net = Mlp {
        l1: layer(1.0),
        l2: layer(0.5),
        label: "mlp",
    };
    let x = grid((3, 2), 0.8);
    let flat = net.to_flat();
    let total = |p: &[Dual64]| {
        let (by_layers, both, _) = mlp_ref(p, &x, true);
        by_layers + both * 0.5
    };
    let (value, (g, _)) = mlp_total_grad(&net, &x);
    assert_eq!(g.label, "mlp");
    assert!(
        (value
            - total(
                &net.to_flat()
                    .iter()
                    .map(|&v| Dual64::from(v))
                    .collect::<Vec<_>>()
            )
            .re)
            .abs()
            < 1e-12
    );
    close("d_net", &g.to_flat(), &dual_gradient(total, &flat), 1e-13);
    let (_, (g_layers, _)) = mlp_by_layers_grad(&net, &x);
    close(
        "by layers",
        &g_layers.to_flat(),
        &dual_gradient(|p| mlp_ref(p, &x, false).0, &flat),
        1e-13,
    );
    assert_gradient!(
        |q: &[f64]| mlp_total(&net.from_flat(q), &x),
        &flat,
        &g.to_flat()
    );

    // By value, passed on whole and as a field, with a float beside it.
    let s = 0.7;
    let (_, (g_value, _, d_s)) = by_value_grad(net.clone(), &x, s);
    let exact = dual_gradient(
        |p| {
            let (by_layers, both, hs) = mlp_ref(p, &x, true);
            let b2 = p[10] + p[11];
            let hsum = hs.iter().flatten().fold(Dual64::from(0.0), |a, h| a + *h);
            (by_layers + both * 0.5) * s + hsum * b2
        },
        &flat,
    );
    close("by value", &g_value.to_flat(), &exact, 1e-13);
    let (total_value, _) = mlp_total_grad(&net, &x);
    assert!((d_s - total_value).abs() < 1e-12);

    // Forward mode: the tangent of `&net.l1` is `&t_net.l1`.
    let direction = net.from_flat(
        &(0..flat.len())
            .map(|i| (i as f64 * 0.37).sin())
            .collect::<Vec<_>>(),
    );
    let (_, tangent) = mlp_total_jvp(&net, &x, &direction, &Array2::zeros((3, 2)));
    let directional: f64 = g
        .to_flat()
        .iter()
        .zip(direction.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
    let (_, tangent) = by_value_jvp(
        net.clone(),
        &x,
        s,
        direction.clone(),
        &Array2::zeros((3, 2)),
        0.0,
    );
    let directional: f64 = g_value
        .to_flat()
        .iter()
        .zip(direction.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
}

/// Methods calling methods, as a model is written: `Layer::forward(&self, x)` called as
/// `self.l1.forward(x)` from `Mlp::predict`, itself called as `self.predict(x)` from
/// `Mlp::loss`, and as `net.predict(x)` from a free function.
#[backprop]
impl Layer {
    #[backprop(jvp)]
    fn forward(&self, x: &Array2<f64>) -> Array2<f64> {
        (x.dot(&self.w) + &self.b).mapv(f64::tanh)
    }
}

#[backprop]
impl Mlp {
    #[backprop(jvp)]
    fn predict(&self, x: &Array2<f64>) -> Array2<f64> {
        let h: Array2<f64> = self.l1.forward(x);
        h.dot(&self.l2.w) + &self.l2.b
    }

    #[backprop(jvp)]
    fn loss(&self, x: &Array2<f64>) -> f64 {
        let y: Array2<f64> = self.predict(x);
        (&y * &y).sum()
    }

    /// The model held fixed (`wrt(x)`), passed on whole (`self.predict(x)`) and by field
    /// (`Layer::forward(&self.l1, x)`): the callees differentiate it, and the caller drops
    /// those gradients.
    #[backprop(wrt(x), jvp)]
    fn input_loss(&self, x: &Array2<f64>) -> f64 {
        let y: Array2<f64> = self.predict(x);
        let h: Array2<f64> = Layer::forward(&self.l1, x);
        (&y * &y).sum() + h.sum()
    }
}

#[backprop]
fn scaled_loss(net: &Mlp, x: &Array2<f64>, s: f64) -> f64 {
    let y: Array2<f64> = net.predict(x);
    s * (&y * &y).sum()
}

#[test]
fn methods_calling_methods() {
    let layer = |s: f64| Layer {
        w: grid((2, 2), s),
        b: array![0.1 * s, -0.2],
    };
    let net = Mlp {
        l1: layer(1.0),
        l2: layer(0.5),
        label: "mlp",
    };
    let x = grid((3, 2), 0.8);
    let flat = net.to_flat();
    let exact = dual_gradient(|p| mlp_ref(p, &x, false).0, &flat);
    let (value, (g, _)) = net.loss_grad(&x);
    assert!((value - net.loss(&x)).abs() < 1e-15);
    assert_eq!(g.label, "mlp");
    close("self.predict", &g.to_flat(), &exact, 1e-13);
    let (_, (g_free, _, d_s)) = scaled_loss_grad(&net, &x, 2.0);
    close(
        "net.predict",
        &g_free.to_flat(),
        &exact.iter().map(|v| 2.0 * v).collect::<Vec<_>>(),
        1e-13,
    );
    assert!((d_s - value).abs() < 1e-12);
    assert_gradient!(|q: &[f64]| net.from_flat(q).loss(&x), &flat, &g.to_flat());
    let direction = net.from_flat(
        &(0..flat.len())
            .map(|i| (i as f64 * 0.61).cos())
            .collect::<Vec<_>>(),
    );
    let (_, tangent) = net.loss_jvp(&x, &direction, &Array2::zeros((3, 2)));
    let directional: f64 = exact
        .iter()
        .zip(direction.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
}

/// A struct of scalars passed whole in f32, to a function taking it by value.
#[backprop]
fn spring32(k: Scale32, x: f32) -> f32 {
    0.5 * k.k * (x - k.shift[0]) * (x - k.shift[1])
}

#[backprop]
fn energy32(a: &Scale32, x: f32) -> f32 {
    spring32(a.clone(), x) + spring32(a.clone(), 2.0 * x)
}

#[test]
fn a_struct_passed_by_value_in_f32() {
    let a = Scale32 {
        k: 1.5,
        shift: [0.25, -1.0],
    };
    let x = 0.5f32;
    let (_, (g, _)) = energy32_grad(&a, x);
    let (_, (g1, _)) = spring32_grad(a.clone(), x);
    let (_, (g2, _)) = spring32_grad(a.clone(), 2.0 * x);
    let expected: Vec<f32> = g1
        .to_flat()
        .iter()
        .zip(g2.to_flat())
        .map(|(u, v)| u + v)
        .collect();
    assert_eq!(g.to_flat(), expected);
}

/// Two struct parameters, in f32.
#[derive(Differentiable, Clone, Debug)]
struct Scale32 {
    k: f32,
    shift: [f32; 2],
}

#[backprop]
fn two_structs32(a: &Scale32, b: Scale32, x: f32) -> f32 {
    (a.k * x + a.shift[0]) * (b.k - b.shift[1] * x)
}

#[test]
fn two_struct_parameters_in_f32() {
    let (a, b, x) = (
        Scale32 {
            k: 1.5,
            shift: [0.25, -1.0],
        },
        Scale32 {
            k: -0.5,
            shift: [2.0, 0.75],
        },
        0.5f32,
    );
    let (value, (ga, gb, d_x)) = two_structs32_grad(&a, b.clone(), x);
    assert_eq!(value, two_structs32(&a, b.clone(), x));
    let (u, v) = (a.k * x + a.shift[0], b.k - b.shift[1] * x);
    assert_eq!(ga.to_flat(), vec![x * v, v, 0.0]);
    assert_eq!(gb.to_flat(), vec![u, 0.0, -x * u]);
    assert!((d_x - (a.k * v - b.shift[1] * u)).abs() < 1e-6);
}

/// Methods: `#[backprop]` on the impl block and on each method to differentiate. `self` is a
/// struct parameter named `self`, first in signature order; the companions are methods.
#[backprop]
impl TwoLayerNet {
    #[backprop(jvp)]
    fn loss(&self, x: &Array2<f64>, t: &Array2<f64>) -> f64 {
        let h = (x.dot(&self.w1) + &self.b1).mapv(f64::tanh);
        let y = h.dot(&self.w2) + &self.b2;
        let r = &y - t;
        (&r * &r).sum() / 2.0
    }

    /// `self` outside `wrt(..)`: read through its fields, not differentiated.
    #[backprop(wrt(x))]
    fn input_score(&self, x: &Array2<f64>) -> f64 {
        let h = x.dot(&self.w1) + &self.b1;
        (&h * &h).sum()
    }

    /// `self` by value.
    #[backprop]
    fn biases(self, s: f64) -> f64 {
        (self.b1.sum() + self.b2.sum()) * s
    }

    /// An associated function: its companions are associated functions.
    #[backprop]
    fn penalty(w: &Array2<f64>) -> f64 {
        (w * w).sum() / 2.0
    }

    /// Not marked: left as written.
    fn size(&self) -> usize {
        self.w1.len() + self.w2.len()
    }
}

#[test]
fn methods_have_methods_for_companions() {
    let (net, x, t) = (net(), grid((5, 3), 0.9), grid((5, 2), 0.4));
    let (value, (g, d_x, _)) = net.loss_grad(&x, &t);
    assert_eq!(value, net.loss(&x, &t));
    let exact = dual_gradient(|p| two_layer_ref(p, &x, &t), &net.to_flat());
    close("d_self", &g.to_flat(), &exact, 1e-13);
    let (_, (_, free_d_x, _)) = two_layer_loss_grad(&net, &x, &t);
    assert_eq!(d_x, free_d_x);
    // The companions are associated functions too.
    let (same, _) = TwoLayerNet::loss_backward(&net, &x, &t, 1.0);
    assert_eq!(same, value);
    assert!(TwoLayerNet::loss_backward_source().contains("let d_self_w2"));

    let (_, d_x) = net.input_score_grad(&x);
    assert_gradient!(
        |p: &[f64]| net.input_score(&Array2::from_shape_vec((5, 3), p.to_vec()).unwrap()),
        x.as_slice().unwrap(),
        d_x.as_slice().unwrap()
    );

    let (_, (g, d_s)) = net.clone().biases_grad(0.5);
    assert_eq!(g.b1, Array1::from_elem(4, 0.5));
    assert_eq!(g.b2, Array1::from_elem(2, 0.5));
    assert_eq!(g.w1, Array2::zeros((3, 4)));
    assert_eq!(d_s, net.b1.sum() + net.b2.sum());

    // `f_jvp` of a method: `self`'s tangent is a `TwoLayerNet`.
    let direction = net.from_flat(&(0..26).map(|i| (i as f64 * 0.61).sin()).collect::<Vec<_>>());
    let zero_x = Array2::zeros((5, 3));
    let (_, jv) = net.loss_jvp(&x, &t, &direction, &zero_x, &Array2::zeros((5, 2)));
    let (_, (g, _, _)) = net.loss_grad(&x, &t);
    let expected: f64 = g
        .to_flat()
        .iter()
        .zip(direction.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((jv - expected).abs() < 1e-12 * expected.abs().max(1.0));

    let (_, d_w) = TwoLayerNet::penalty_grad(&net.w1);
    assert_eq!(d_w, net.w1);
    assert_eq!(net.size(), 20);
}

/// Forward mode: a struct parameter's tangent is a value of the struct (`t_net: &TwoLayerNet`),
/// nested structs too; `J·t` is the gradient's inner product with the tangents.
#[test]
fn forward_mode_with_struct_tangents() {
    let (net, x, t) = (net(), grid((5, 3), 0.9), grid((5, 2), 0.4));
    let mut tangent = net.zeros_like();
    tangent.w1 = grid((3, 4), 2.3);
    tangent.b2 = array![0.5, -1.5];
    let (t_x, t_t) = (grid((5, 3), 1.1), Array2::zeros((5, 2)));
    let (value, jv) = two_layer_loss_jvp(&net, &x, &t, &tangent, &t_x, &t_t);
    assert_eq!(value, two_layer_loss(&net, &x, &t));
    let (_, (g, d_x, _)) = two_layer_loss_grad(&net, &x, &t);
    let expected: f64 = g
        .to_flat()
        .iter()
        .zip(tangent.to_flat())
        .map(|(a, b)| a * b)
        .sum::<f64>()
        + (&d_x * &t_x).sum();
    assert!((jv - expected).abs() < 1e-12 * expected.abs().max(1.0));

    let layer = |s: f64| Layer {
        w: grid((2, 2), s),
        b: array![0.1 * s, -0.2],
    };
    let mlp = Mlp {
        l1: layer(1.0),
        l2: layer(0.5),
        label: "mlp",
    };
    let x = grid((3, 2), 0.8);
    let direction = mlp.from_flat(&(0..12).map(|i| (i as f64 * 0.37).cos()).collect::<Vec<_>>());
    let (_, jv) = mlp_loss_jvp(&mlp, &x, &direction, &Array2::zeros((3, 2)));
    let (_, (g, _)) = mlp_loss_grad(&mlp, &x);
    let expected: f64 = g
        .to_flat()
        .iter()
        .zip(direction.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((jv - expected).abs() < 1e-12 * expected.abs().max(1.0));
}

#[test]
fn a_model_held_fixed_passed_to_its_methods() {
    let layer = |s: f64| Layer {
        w: grid((2, 2), s),
        b: array![0.1 * s, -0.2],
    };
    let net = Mlp {
        l1: layer(1.0),
        l2: layer(0.5),
        label: "fixed",
    };
    let x = grid((3, 2), 0.8);
    let (value, d_x) = net.input_loss_grad(&x);
    let (w1, b1, w2, b2) = (&net.l1.w, &net.l1.b, &net.l2.w, &net.l2.b);
    let reference = |p: &[Dual64]| {
        let mut total = Dual64::from(0.0);
        for i in 0..3 {
            let h: Vec<Dual64> = (0..2)
                .map(|k| (p[2 * i] * w1[[0, k]] + p[2 * i + 1] * w1[[1, k]] + b1[k]).tanh())
                .collect();
            for c in 0..2 {
                let y = h[0] * w2[[0, c]] + h[1] * w2[[1, c]] + b2[c];
                total += y * y;
            }
            total += h[0] + h[1];
        }
        total
    };
    let at: Vec<f64> = x.iter().copied().collect();
    let flat_d_x: Vec<f64> = d_x.iter().copied().collect();
    assert!((value - net.input_loss(&x)).abs() < 1e-15);
    close("d_x", &flat_d_x, &dual_gradient(reference, &at), 1e-13);
    assert_gradient!(
        |p: &[f64]| net.input_loss(&Array2::from_shape_vec((3, 2), p.to_vec()).unwrap()),
        &at,
        &flat_d_x
    );
    let t = grid((3, 2), -0.3);
    let (jvp_value, tangent) = net.input_loss_jvp(&x, &t);
    assert_eq!(jvp_value, value);
    let directional: f64 = flat_d_x.iter().zip(t.iter()).map(|(a, b)| a * b).sum();
    assert!((tangent - directional).abs() < 1e-12 * directional.abs().max(1.0));
}

/// A configuration that does not derive `Differentiable`: a constant wherever it goes.
struct Camera {
    focal: f64,
    offset: [f64; 2],
}

/// The callee leaves the struct out with `wrt(..)`, as it must.
#[backprop(wrt(theta))]
fn project(theta: &[f64], camera: &Camera) -> f64 {
    let u = camera.focal * theta[0] / theta[2] + camera.offset[0];
    let v = camera.focal * theta[1] / theta[2] + camera.offset[1];
    u * u + v * v
}

/// So does the caller, which passes it whole.
#[backprop(wrt(theta))]
fn reprojection(theta: &[f64], camera: &Camera, weight: f64) -> f64 {
    let e = project(theta, camera);
    weight * e.sqrt()
}

#[test]
fn a_constant_struct_passed_whole_to_a_callee_that_leaves_it_out() {
    let camera = Camera {
        focal: 1.5,
        offset: [0.2, -0.1],
    };
    let theta = [0.4, -0.7, 2.0];
    let (value, gradient) = reprojection_grad(&theta, &camera, 0.5);
    let exact = dual_gradient(
        |t| {
            let u = t[0] * camera.focal / t[2] + camera.offset[0];
            let v = t[1] * camera.focal / t[2] + camera.offset[1];
            (u * u + v * v).sqrt() * 0.5
        },
        &theta,
    );
    assert_eq!(value, reprojection(&theta, &camera, 0.5));
    close("through a constant struct", &gradient, &exact, 1e-14);
}

#[derive(Clone, Debug, Differentiable)]
struct Potential {
    k: [f64; 2],
}

#[backprop]
impl Potential {
    /// The potential holds its own parameters constant.
    #[backprop(wrt(x))]
    fn energy(&self, x: &[f64]) -> f64 {
        self.k[0] * x[0] * x[0] + self.k[1] * x[1].sin()
    }
}

/// A caller that holds the struct constant too, and calls its method.
#[backprop(wrt(x))]
fn squared_energy(p: &Potential, x: &[f64]) -> f64 {
    let e = p.energy(x);
    e * e
}

/// The same with the struct taken by value.
#[backprop(wrt(x))]
fn squared_energy_owned(p: Potential, x: &[f64]) -> f64 {
    let e = p.energy(x);
    e * e
}

#[test]
fn a_method_of_a_struct_held_constant_that_holds_itself_constant() {
    let p = Potential { k: [1.5, -0.5] };
    let x = [0.3, 1.1];
    let exact = dual_gradient(
        |x| {
            let e = x[0] * x[0] * p.k[0] + x[1].sin() * p.k[1];
            e * e
        },
        &x,
    );
    let (value, gradient) = squared_energy_grad(&p, &x);
    assert_eq!(value, squared_energy(&p, &x));
    close("by reference", &gradient, &exact, 1e-14);
    let (value, gradient) = squared_energy_owned_grad(p.clone(), &x);
    assert_eq!(value, squared_energy(&p, &x));
    close("by value", &gradient, &exact, 1e-14);
}

#[derive(Clone, Debug, Differentiable)]
struct Dense {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[backprop]
fn dense_tanh(layer: &Dense, x: &Array1<f64>) -> Array1<f64> {
    (x.dot(&layer.w) + &layer.b).mapv(f64::tanh)
}

/// A saliency map: the model stays among the differentiated parameters (the callee
/// differentiates it) and its gradient is ignored.
#[backprop(wrt(layer, x))]
fn saliency(layer: &Dense, x: &Array1<f64>) -> f64 {
    let h: Array1<f64> = dense_tanh(layer, x);
    h.sum()
}

#[test]
fn a_saliency_map_through_a_layer() {
    let layer = Dense {
        w: array![[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]],
        b: array![0.1, -0.2],
    };
    let x = array![0.3, -1.0, 0.7];
    let (_, (_, d_x)) = saliency_grad(&layer, &x);
    let exact = dual_gradient(
        |x| {
            let mut total = Dual64::from(0.0);
            for j in 0..2 {
                let mut s = Dual64::from(layer.b[j]);
                for i in 0..3 {
                    s += x[i] * layer.w[[i, j]];
                }
                total += s.tanh();
            }
            total
        },
        x.as_slice().unwrap(),
    );
    close("d x", d_x.as_slice().unwrap(), &exact, 1e-14);
}

#[derive(Clone, Debug, Differentiable)]
struct Scorer {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[backprop]
impl Scorer {
    #[backprop]
    fn hidden(&self, x: &Array1<f64>) -> Array1<f64> {
        (x.dot(&self.w) + &self.b).mapv(f64::tanh)
    }

    /// Takes `self` by value.
    #[backprop]
    fn score(self, x: &Array1<f64>) -> f64 {
        (x.dot(&self.w) + &self.b).sum()
    }

    /// Calls a `&self` method and a `self` one of its own struct, itself by value.
    #[backprop]
    fn squared(self, x: &Array1<f64>) -> f64 {
        let h: Array1<f64> = self.hidden(x);
        let s = self.score(&h);
        s * s
    }
}

/// A struct taken by value, given to a method that takes `self` by value.
#[backprop]
fn scored(net: Scorer, x: &Array1<f64>) -> f64 {
    let s = net.score(x);
    s * s
}

/// `[w (2×2), b, x]` as dual numbers: `score` of `x`, or of `hidden(x)` first.
fn scorer_reference(p: &[Dual64], through_hidden: bool) -> Dual64 {
    let (w, b, x) = (&p[0..4], &p[4..6], &p[6..8]);
    let affine = |v: &[Dual64]| -> Vec<Dual64> {
        (0..2)
            .map(|j| b[j] + v[0] * w[j] + v[1] * w[2 + j])
            .collect()
    };
    let input: Vec<Dual64> = match through_hidden {
        true => affine(x).iter().map(|v| v.tanh()).collect(),
        false => x.to_vec(),
    };
    let s = affine(&input).iter().fold(Dual64::from(0.0), |s, &v| s + v);
    s * s
}

#[test]
fn methods_taking_self_by_value_called_inside() {
    let net = Scorer {
        w: array![[0.1, -0.1], [0.4, 0.2]],
        b: array![0.1, -0.3],
    };
    let x = array![0.7, -1.2];
    let flat: Vec<f64> = net.to_flat().into_iter().chain(x.iter().copied()).collect();
    for through_hidden in [false, true] {
        let (value, (d_net, d_x)) = match through_hidden {
            false => scored_grad(net.clone(), &x),
            true => net.clone().squared_grad(&x),
        };
        let exact = dual_gradient(|p| scorer_reference(p, through_hidden), &flat);
        let expected = scorer_reference(
            &flat.iter().map(|&v| Dual64::from(v)).collect::<Vec<_>>(),
            through_hidden,
        );
        assert!((value - expected.re).abs() < 1e-14);
        let got: Vec<f64> = d_net
            .to_flat()
            .into_iter()
            .chain(d_x.iter().copied())
            .collect();
        close("self by value", &got, &exact, 1e-14);
    }
}
