//! The gradient descent GradBench's saddle and particle evals prescribe (cpp/gradbench/gd.hpp):
//! from the start, step against the gradient with a rate η that starts at 1e-5, doubles
//! after 10 accepted steps and halves after a rejected one (a step is accepted when it
//! lowers the objective); stop when the gradient's norm or the step's length is at most 1e-5.
//! This loop is not differentiated: it drives the outer optimisation, whose gradients come
//! from `#[backprop]` companions.

/// The point where the descent on `objective` with `gradient` stops.
pub fn argmin(
    objective: impl Fn(&[f64]) -> f64,
    gradient: impl Fn(&[f64]) -> Vec<f64>,
    start: &[f64],
) -> Vec<f64> {
    let mut x = start.to_vec();
    let mut fx = objective(&x);
    let mut g = gradient(&x);
    let mut accepted = 0;
    let mut eta = 1e-5;
    loop {
        if norm(&g) <= 1e-5 {
            return x;
        }
        if accepted == 10 {
            eta *= 2.0;
            accepted = 0;
            continue;
        }
        let next: Vec<f64> = x.iter().zip(&g).map(|(x, g)| x - eta * g).collect();
        let step: Vec<f64> = x.iter().zip(&next).map(|(a, b)| a - b).collect();
        if norm(&step) <= 1e-5 {
            return x;
        }
        let f_next = objective(&next);
        if f_next < fx {
            x = next;
            fx = f_next;
            g = gradient(&x);
            accepted += 1;
        } else {
            eta /= 2.0;
            accepted = 0;
        }
    }
}

/// The point where the ascent on `objective` stops: the descent on its negation.
pub fn argmax(
    objective: impl Fn(&[f64]) -> f64,
    gradient: impl Fn(&[f64]) -> Vec<f64>,
    start: &[f64],
) -> Vec<f64> {
    argmin(
        |x| -objective(x),
        |x| gradient(x).into_iter().map(|g| -g).collect(),
        start,
    )
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|v| v * v).sum::<f64>().sqrt()
}
