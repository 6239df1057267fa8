//! `backprop::Differentiable` and `#[derive(backprop::Differentiable)]`: the leaf types' flat
//! order (arrays in logical row-major order whatever their layout), derived structs (nested,
//! generic, with skipped fields), `scaled_add` as an SGD step, and a struct loss's gradient
//! checked through `to_flat` / `from_flat`.

// The attribute macro in scope too: the derive's `#[backprop(skip)]` helper must not clash
// with it.
#[allow(unused_imports)]
use backprop::backprop;
use backprop::ndarray::{Array1, Array2, array};
use backprop::{Differentiable, numeric_gradient, relative_error};

#[derive(Debug, Clone, PartialEq, Differentiable)]
struct Layer {
    w: Array2<f64>,
    b: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, backprop::Differentiable)]
struct Model {
    #[backprop(skip)]
    name: String,
    layer: Layer,
    gain: [f64; 2],
    #[backprop(skip)]
    steps: usize,
    bias: f64,
}

#[derive(Debug, Clone, PartialEq, Differentiable)]
struct Affine<F> {
    w: Vec<F>,
    b: F,
    #[backprop(skip)]
    label: &'static str,
}

fn model() -> Model {
    Model {
        name: "tiny".to_string(),
        layer: Layer {
            // Stored transposed: its memory order is not its logical order.
            w: array![[0.5, -0.25], [0.75, 1.0], [-0.5, 0.125]].reversed_axes(),
            b: vec![0.1, -0.2],
        },
        gain: [1.5, -0.5],
        steps: 7,
        bias: 0.3,
    }
}

#[test]
fn floats_are_one_entry() {
    let mut x = 2.5_f64;
    assert_eq!(x.to_flat(), [2.5]);
    assert_eq!(x.flat_len(), 1);
    assert_eq!(x.zeros_like(), 0.0);
    assert_eq!(x.from_flat(&[-1.0]), -1.0);
    x.scaled_add(2.0, &0.25);
    assert_eq!(x, 3.0);

    let mut y = 1.0_f32;
    y.scaled_add(-0.5, &4.0);
    assert_eq!(y, -1.0);
    assert_eq!(y.to_flat(), [-1.0_f32]);
    assert_eq!(y.from_flat(&[0.5]), 0.5);
}

#[test]
fn fixed_arrays_and_vecs_keep_their_order() {
    let a = [1.0_f64, 2.0, 3.0];
    assert_eq!(a.to_flat(), [1.0, 2.0, 3.0]);
    assert_eq!(a.zeros_like(), [0.0; 3]);
    assert_eq!(a.from_flat(&[4.0, 5.0, 6.0]), [4.0, 5.0, 6.0]);
    let mut b = a;
    b.scaled_add(2.0, &[1.0, -1.0, 0.5]);
    assert_eq!(b, [3.0, 0.0, 4.0]);

    let v = vec![1.0_f32, -2.0];
    assert_eq!(v.to_flat(), [1.0, -2.0]);
    assert_eq!(v.zeros_like(), [0.0, 0.0]);
    assert_eq!(v.from_flat(&[3.0, 4.0]), [3.0, 4.0]);
    let mut w = v.clone();
    w.scaled_add(0.5, &vec![2.0, 2.0]);
    assert_eq!(w, [2.0, -1.0]);
}

#[test]
fn ndarray_arrays_flatten_in_logical_row_major_order() {
    let a: Array2<f64> = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let row_major = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];

    // The same logical array three times: in standard layout, and twice column-major (a
    // transposed view copied, which keeps its memory order, and the original memory with its
    // strides swapped).
    let standard = Array2::from_shape_vec((3, 2), row_major.to_vec()).unwrap();
    let copied = a.t().to_owned();
    let reversed = a.clone().reversed_axes();
    assert!(standard.is_standard_layout());
    assert!(!copied.is_standard_layout());
    assert!(!reversed.is_standard_layout());
    assert_eq!(copied, standard);
    assert_eq!(reversed, standard);
    assert_eq!(standard.to_flat(), row_major);
    assert_eq!(copied.to_flat(), row_major);
    assert_eq!(reversed.to_flat(), row_major);

    let back = reversed.from_flat(&row_major.map(|x| 10.0 * x));
    assert_eq!(back, 10.0 * &copied);
    assert_eq!(back.shape(), [3, 2]);
    assert_eq!(reversed.zeros_like(), Array2::<f64>::zeros((3, 2)));

    let mut sum = reversed.clone();
    sum.scaled_add(-2.0, &copied);
    assert_eq!(sum, -&copied);

    let v: Array1<f32> = array![1.0, 2.0];
    assert_eq!(v.to_flat(), [1.0, 2.0]);
    assert_eq!(v.from_flat(&[3.0, 4.0]), array![3.0, 4.0]);
}

#[test]
fn a_struct_flattens_its_fields_in_declaration_order() {
    let m = model();
    // layer.w (logical row-major), layer.b, gain, bias; `name` and `steps` are skipped.
    let flat = [
        0.5, 0.75, -0.5, -0.25, 1.0, 0.125, 0.1, -0.2, 1.5, -0.5, 0.3,
    ];
    assert_eq!(m.to_flat(), flat);
    assert_eq!(m.flat_len(), flat.len());
    assert_eq!(m.layer.flat_len(), 8);
}

#[test]
fn from_flat_inverts_to_flat_and_keeps_skipped_fields() {
    let m = model();
    assert_eq!(m.from_flat(&m.to_flat()), m);

    let ramp: Vec<f64> = (0..m.flat_len()).map(|i| i as f64).collect();
    let r = m.from_flat(&ramp);
    assert_eq!(r.to_flat(), ramp);
    assert_eq!(r.layer.w, array![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
    assert_eq!(r.layer.b, [6.0, 7.0]);
    assert_eq!(r.gain, [8.0, 9.0]);
    assert_eq!(r.bias, 10.0);
    assert_eq!(r.name, "tiny");
    assert_eq!(r.steps, 7);
}

#[test]
#[should_panic(
    expected = "`from_flat` was given 3 values, but the value has 11 differentiable entries"
)]
fn from_flat_of_the_wrong_length_panics() {
    model().from_flat(&[1.0, 2.0, 3.0]);
}

#[test]
fn zeros_like_zeroes_entries_and_keeps_skipped_fields() {
    let z = model().zeros_like();
    assert!(z.to_flat().iter().all(|&x| x == 0.0));
    assert_eq!(z.layer.w.shape(), [2, 3]);
    assert_eq!(z.layer.b.len(), 2);
    assert_eq!(z.name, "tiny");
    assert_eq!(z.steps, 7);
}

#[test]
fn scaled_add_is_entrywise_and_leaves_skipped_fields() {
    let m = model();
    let mut other = m.from_flat(&(0..m.flat_len()).map(|i| i as f64).collect::<Vec<_>>());
    other.name = "other".to_string();
    other.steps = 99;

    let mut sum = m.clone();
    sum.scaled_add(-0.5, &other);
    let expected: Vec<f64> = m
        .to_flat()
        .iter()
        .zip(other.to_flat())
        .map(|(a, b)| a - 0.5 * b)
        .collect();
    assert_eq!(sum.to_flat(), expected);
    assert_eq!(sum.layer.w[[1, 2]], m.layer.w[[1, 2]] - 0.5 * 5.0);
    assert_eq!(sum.name, "tiny");
    assert_eq!(sum.steps, 7);
}

#[test]
fn a_generic_struct_takes_its_scalar_from_its_fields() {
    let a = Affine {
        w: vec![1.0_f32, 2.0],
        b: 0.5,
        label: "f32",
    };
    let flat: Vec<f32> = a.to_flat();
    assert_eq!(flat, [1.0, 2.0, 0.5]);
    assert_eq!(a.from_flat(&[3.0, 4.0, 5.0]).w, [3.0, 4.0]);

    let mut d = Affine {
        w: vec![1.0_f64],
        b: 2.0,
        label: "f64",
    };
    let z = d.zeros_like();
    assert_eq!((z.w.as_slice(), z.b, z.label), (&[0.0][..], 0.0, "f64"));
    d.scaled_add(3.0, &d.clone());
    assert_eq!(d.to_flat(), [4.0, 8.0]);

    // Arrays and vectors of structs are differentiable too.
    let layers = vec![d.clone(), d.zeros_like()];
    assert_eq!(layers.to_flat(), [4.0, 8.0, 0.0, 0.0]);
    assert_eq!([d.clone(), d].flat_len(), 4);
}

/// The loss of `m` on the input `x`: with zᵢ = Σⱼ wᵢⱼ xⱼ + bᵢ and
/// out = Σᵢ gainᵢ tanh(zᵢ) + bias · m.steps, the loss is out² / 2.
fn loss(m: &Model, x: &[f64; 3]) -> f64 {
    let out: f64 = (0..2)
        .map(|i| {
            let z: f64 = (0..3).map(|j| m.layer.w[[i, j]] * x[j]).sum::<f64>() + m.layer.b[i];
            m.gain[i] * z.tanh()
        })
        .sum::<f64>()
        + m.bias * m.steps as f64;
    out * out / 2.0
}

/// The gradient of [`loss`], by hand, as a `Model` (`name` and `steps` copied).
fn loss_gradient(m: &Model, x: &[f64; 3]) -> Model {
    let z: Vec<f64> = (0..2)
        .map(|i| (0..3).map(|j| m.layer.w[[i, j]] * x[j]).sum::<f64>() + m.layer.b[i])
        .collect();
    let out: f64 = (0..2).map(|i| m.gain[i] * z[i].tanh()).sum::<f64>() + m.bias * m.steps as f64;
    // d out / d zᵢ = gainᵢ (1 − tanh² zᵢ); the loss multiplies every derivative of out by out.
    let d_z: Vec<f64> = (0..2)
        .map(|i| out * m.gain[i] * (1.0 - z[i].tanh().powi(2)))
        .collect();
    let mut g = m.zeros_like();
    g.layer.w = Array2::from_shape_fn((2, 3), |(i, j)| d_z[i] * x[j]);
    g.layer.b = d_z;
    g.gain = [out * z[0].tanh(), out * z[1].tanh()];
    g.bias = out * m.steps as f64;
    g
}

#[test]
fn a_struct_gradient_checks_against_central_differences() {
    let m = model();
    let x = [0.4, -1.2, 0.7];
    let analytic = loss_gradient(&m, &x);
    let numeric = numeric_gradient(|p| loss(&m.from_flat(p), &x), &m.to_flat());
    let analytic = analytic.to_flat();
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        assert!(
            relative_error(*a, *n) < 1e-6 || (a - n).abs() < 1e-9,
            "component {i}: analytic {a}, numeric {n}"
        );
    }
}

#[test]
fn sgd_steps_with_scaled_add_decrease_the_loss() {
    let mut m = model();
    let x = [0.4, -1.2, 0.7];
    let first = loss(&m, &x);
    let mut last = first;
    for _ in 0..20 {
        let g = loss_gradient(&m, &x);
        let before = m.clone();
        m.scaled_add(-0.01, &g);
        // The step is exactly m − 0.01 · g, entry by entry.
        let expected: Vec<f64> = before
            .to_flat()
            .iter()
            .zip(g.to_flat())
            .map(|(p, d)| p - 0.01 * d)
            .collect();
        assert_eq!(m.to_flat(), expected);
        let now = loss(&m, &x);
        assert!(now < last, "loss went from {last} to {now}");
        last = now;
    }
    assert!(
        last < 0.5 * first,
        "20 steps took the loss from {first} to {last}"
    );
    assert_eq!((m.name.as_str(), m.steps), ("tiny", 7));
}
