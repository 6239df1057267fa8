//! L-BFGS with `argmin`, on a gradient `#[backprop]` wrote: a softmax (multinomial logistic)
//! regression on three Gaussian blobs in the plane, its parameters a `Classifier` struct.
//!
//! argmin's solvers work on a flat parameter vector (`Vec<f64>`); the model is a
//! `#[derive(Differentiable)]` struct. The problem converts between the two: `cost` calls the
//! `#[backprop]` loss on `template.from_flat(p)`, `gradient` calls its `_grad` and flattens
//! the gradient (a `Classifier`) with `to_flat`, in the same order. L-BFGS with a
//! Moré–Thuente line search then minimises it, an observer printing each iteration.
//!
//! `cargo run --release --example lbfgs`

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{CostFunction, Error, Executor, Gradient, IterState, KV, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use backprop::ndarray::{Array1, Array2, Axis};
use backprop::{Differentiable, backprop};

/// A linear classifier: scores `x·w + b`, one column per class.
#[derive(Clone, Debug, Differentiable)]
struct Classifier {
    w: Array2<f64>,
    b: Array1<f64>,
}

/// Mean softmax cross-entropy of the labels `y`, plus L2 on the weights.
#[backprop(wrt(model))]
fn loss(model: &Classifier, x: &Array2<f64>, y: &[usize], reg: f64) -> f64 {
    let scores = x.dot(&model.w) + &model.b;
    let log_probs = backprop::log_softmax(&scores, Axis(1));
    let data_loss = -backprop::pick(&log_probs, y).mean().unwrap();
    data_loss + 0.5 * reg * (&model.w * &model.w).sum()
}

/// The problem argmin sees: a function of a flat `Vec<f64>`.
struct Fit {
    /// The shape the flat vector is read into (its entries are not used).
    template: Classifier,
    x: Array2<f64>,
    y: Vec<usize>,
    reg: f64,
}

impl CostFunction for Fit {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(loss(
            &self.template.from_flat(p),
            &self.x,
            &self.y,
            self.reg,
        ))
    }
}

impl Gradient for Fit {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        let model = self.template.from_flat(p);
        let (_, gradient) = loss_grad(&model, &self.x, &self.y, self.reg);
        Ok(gradient.to_flat())
    }
}

type Iterate = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

/// Prints the cost and the gradient's norm at every iteration.
struct Progress;

impl Observe<Iterate> for Progress {
    fn observe_iter(&mut self, state: &Iterate, _kv: &KV) -> Result<(), Error> {
        let norm = state
            .get_gradient()
            .map_or(f64::NAN, |g| g.iter().map(|v| v * v).sum::<f64>().sqrt());
        println!(
            "iteration {:>2}  loss {:.10}  |gradient| {norm:.2e}",
            state.get_iter(),
            state.get_cost()
        );
        Ok(())
    }
}

/// A fixed-seed generator (64-bit LCG + Box–Muller), so the example needs no crate.
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

/// `per_class` points around each of three centres, standard deviation 0.7.
fn blobs(per_class: usize, noise: &mut Noise) -> (Array2<f64>, Vec<usize>) {
    let centres = [(-1.5, 0.0), (1.5, 0.5), (0.0, 2.0)];
    let mut x = Array2::zeros((3 * per_class, 2));
    let mut y = Vec::with_capacity(3 * per_class);
    for (class, (cx, cy)) in centres.into_iter().enumerate() {
        for i in 0..per_class {
            let row = class * per_class + i;
            x[[row, 0]] = cx + 0.7 * noise.normal();
            x[[row, 1]] = cy + 0.7 * noise.normal();
            y.push(class);
        }
    }
    (x, y)
}

fn accuracy(model: &Classifier, x: &Array2<f64>, y: &[usize]) -> f64 {
    let scores = x.dot(&model.w) + &model.b;
    let correct = scores
        .rows()
        .into_iter()
        .zip(y)
        .filter(|(row, label)| {
            let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            best == **label
        })
        .count();
    correct as f64 / y.len() as f64
}

fn main() -> Result<(), Error> {
    let mut noise = Noise(7);
    let (x, y) = blobs(100, &mut noise);
    let start = Classifier {
        w: Array2::zeros((2, 3)),
        b: Array1::zeros(3),
    };
    let problem = Fit {
        template: start.clone(),
        x,
        y,
        reg: 1e-2,
    };

    // The generated gradient, flattened, against central differences at the start.
    let (_, gradient) = loss_grad(&start, &problem.x, &problem.y, problem.reg);
    backprop::assert_gradient!(
        |p: &[f64]| problem.cost(&p.to_vec()).unwrap(),
        &start.to_flat(),
        &gradient.to_flat()
    );

    let line_search = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(line_search, 7)
        .with_tolerance_grad(1e-10)?
        .with_tolerance_cost(0.0)?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start.to_flat()).max_iters(100).counting(true))
        .add_observer(Progress, ObserverMode::Always)
        .run()?;

    let state = result.state();
    let fitted = start.from_flat(state.get_best_param().expect("L-BFGS returns a parameter"));
    let problem = result
        .problem()
        .problem
        .as_ref()
        .expect("the problem is handed back");
    let (value, gradient) = loss_grad(&fitted, &problem.x, &problem.y, problem.reg);
    let norm = gradient.to_flat().iter().map(|v| v * v).sum::<f64>().sqrt();
    let counts = state.get_func_counts();
    println!(
        "\n{} after {} iterations ({} cost and {} gradient evaluations)",
        state.get_termination_status(),
        state.get_iter(),
        counts.get("cost_count").unwrap_or(&0),
        counts.get("gradient_count").unwrap_or(&0)
    );
    println!("loss {value:.10}, |gradient| {norm:.2e}");
    println!(
        "training accuracy {:.1}%",
        100.0 * accuracy(&fitted, &problem.x, &problem.y)
    );
    println!("w =\n{:.4}\nb = {:.4}", fitted.w, fitted.b);
    Ok(())
}
