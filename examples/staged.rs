//! The lecture's staged function f(x, y) = (x + σ(y)) / (σ(x) + (x + y)²) at (3, −4): its
//! value, the backward code `#[backprop]` wrote for it, and the analytic gradient next to a
//! numeric one.
//!
//! Run with `cargo run --example staged`.

use backprop::{backprop, numeric_gradient, relative_error};

#[backprop]
fn staged(x: f64, y: f64) -> f64 {
    let sigy = 1.0 / (1.0 + (-y).exp()); // (1)
    let num = x + sigy; // (2)
    let sigx = 1.0 / (1.0 + (-x).exp()); // (3)
    let xpy = x + y; // (4)
    let xpysqr = xpy.powi(2); // (5)
    let den = sigx + xpysqr; // (6)
    let invden = 1.0 / den; // (7)
    num * invden // (8)
}

fn main() {
    let (x, y) = (3.0, -4.0);
    let (f, (dx, dy)) = staged_grad(x, y);
    println!("f(3, -4) = {f:.10}\n");
    println!("The backward code #[backprop] wrote (staged_backward_source()):\n");
    println!("{}", staged_backward_source());
    let numeric = numeric_gradient(|p: &[f64]| staged(p[0], p[1]), &[x, y]);
    println!(
        "{:>4}  {:>20}  {:>20}  {:>12}",
        "", "analytic", "numeric", "rel. error"
    );
    for (name, analytic, numeric) in [("df/dx", dx, numeric[0]), ("df/dy", dy, numeric[1])] {
        println!(
            "{name:>4}  {analytic:>20.12}  {numeric:>20.12}  {:>12.2e}",
            relative_error(analytic, numeric)
        );
    }
}
