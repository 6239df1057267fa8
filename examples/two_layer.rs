//! A two-layer net (affine → ReLU → affine → softmax) trained on the course's spiral data set
//! with gradients written by `#[backprop]`, printing the loss and the training accuracy as
//! they improve. Its parameters are one struct, `TwoLayerNet`, whose gradient is a
//! `TwoLayerNet` too: trained by gradient descent (`scaled_add`), then again from the same
//! start by Adam written once for any `Differentiable` value (its moments over `to_flat`).
//!
//! Run with `cargo run --release --example two_layer` (or without `--release`, slower).

use backprop::ndarray::{Array1, Array2, Axis};
use backprop::{Differentiable, backprop};

/// The net's parameters: the first layer's weights and biases, then the second's.
#[derive(Clone, Debug, Differentiable)]
struct TwoLayerNet {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
}

/// The loss of the notes' two-layer net: softmax cross-entropy plus L2 on both weight
/// matrices. The data `x`, the labels `y` and `reg` are constants.
#[backprop(wrt(net))]
fn loss(net: &TwoLayerNet, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let hidden = backprop::relu(&(x.dot(&net.w1) + &net.b1));
    let scores = hidden.dot(&net.w2) + &net.b2;
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * ((&net.w1 * &net.w1).sum() + (&net.w2 * &net.w2).sum())
}

/// Adam (Kingma & Ba) over the flat entries of any `Differentiable` value: the two moments
/// start at zero, one per entry, and a step returns the updated parameters.
struct Adam {
    rate: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    steps: i32,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    fn new<P: Differentiable<Scalar = f64>>(params: &P, rate: f64) -> Self {
        let zeros = params.zeros_like().to_flat();
        Adam {
            rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            steps: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    fn step<P: Differentiable<Scalar = f64>>(&mut self, params: &P, gradient: &P) -> P {
        self.steps += 1;
        let (c1, c2) = (
            1.0 - self.beta1.powi(self.steps),
            1.0 - self.beta2.powi(self.steps),
        );
        let mut p = params.to_flat();
        for (((p, g), m), v) in p
            .iter_mut()
            .zip(gradient.to_flat())
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p -= self.rate * (*m / c1) / ((*v / c2).sqrt() + self.epsilon);
        }
        params.from_flat(&p)
    }
}

/// A small deterministic generator (64-bit LCG + Box–Muller), so the example needs no crate.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The course's spiral: `classes` arms of `per_class` points each in the plane.
fn spiral(per_class: usize, classes: usize, noise: &mut Noise) -> (Array2<f64>, Vec<usize>) {
    let mut x = Array2::zeros((per_class * classes, 2));
    let mut y = Vec::with_capacity(per_class * classes);
    for class in 0..classes {
        for i in 0..per_class {
            let r = i as f64 / (per_class - 1) as f64;
            let t = class as f64 * 4.0 + 4.0 * r + noise.normal() * 0.2;
            let row = class * per_class + i;
            x[[row, 0]] = r * t.sin();
            x[[row, 1]] = r * t.cos();
            y.push(class);
        }
    }
    (x, y)
}

fn accuracy(net: &TwoLayerNet, x: &Array2<f64>, y: &[usize]) -> f64 {
    let hidden = (x.dot(&net.w1) + &net.b1).mapv(|v| v.max(0.0));
    let scores = hidden.dot(&net.w2) + &net.b2;
    let correct = scores
        .rows()
        .into_iter()
        .zip(y)
        .filter(|(row, label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (k, &v)| if v > b.1 { (k, v) } else { b },
                );
            best.0 == **label
        })
        .count();
    correct as f64 / y.len() as f64
}

fn main() {
    let mut noise = Noise(42);
    let (x, y) = spiral(100, 3, &mut noise);
    let (hidden, classes) = (100, 3);
    let start = TwoLayerNet {
        w1: Array2::from_shape_fn((2, hidden), |_| 0.01 * noise.normal()),
        b1: Array1::zeros(hidden),
        w2: Array2::from_shape_fn((hidden, classes), |_| 0.01 * noise.normal()),
        b2: Array1::zeros(classes),
    };
    let (step_size, reg) = (1.0, 1e-3);

    println!("Gradient descent, step size {step_size}:");
    let mut net = start.clone();
    for step in 0..=3000 {
        // The gradient is a `TwoLayerNet`: dW1, db1, dW2, db2 in the fields.
        let (value, gradient) = loss_grad(&net, &x, &y, reg);
        if step % 500 == 0 {
            let acc = accuracy(&net, &x, &y);
            println!(
                "step {step:>4}  loss {value:.4}  training accuracy {:.1}%",
                100.0 * acc
            );
        }
        net.scaled_add(-step_size, &gradient);
    }

    let rate = 0.01;
    println!("\nAdam, learning rate {rate}, from the same start:");
    let mut net = start;
    let mut adam = Adam::new(&net, rate);
    for step in 0..=1000 {
        let (value, gradient) = loss_grad(&net, &x, &y, reg);
        if step % 200 == 0 {
            let acc = accuracy(&net, &x, &y);
            println!(
                "step {step:>4}  loss {value:.4}  training accuracy {:.1}%",
                100.0 * acc
            );
        }
        net = adam.step(&net, &gradient);
    }

    println!(
        "\nThe backward pass #[backprop] wrote:\n\n{}",
        loss_backward_source()
    );
}
