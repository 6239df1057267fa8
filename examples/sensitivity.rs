//! Forward mode: how every output of a simulation moves with one parameter.
//!
//! A damped spring, stepped with semi-implicit Euler, records its position at every step. Its
//! sensitivity to the stiffness `k` (and to the damping `c`) at every time step is one call of
//! `spring_jvp` each: the tangent `(t_k, t_c) = (1, 0)` gives d x(t) / d k for all t at once,
//! where reverse mode would need one backward pass per output. Checked against a central
//! difference of the whole trajectory.
//!
//! `cargo run --release --example sensitivity`

// Written with index loops, as the simulation is in C (`#[backprop]` differentiates them).
#![allow(clippy::needless_range_loop)]

use backprop::backprop;

/// The positions of a damped spring released from `x0` at rest.
#[backprop(wrt(k, c), jvp)]
fn spring(k: f64, c: f64, x0: f64, dt: f64, steps: usize) -> Vec<f64> {
    let mut xs = vec![0.0; steps];
    let mut x = x0;
    let mut v = 0.0;
    for i in 0..steps {
        let a = -k * x - c * v;
        v += a * dt;
        x += v * dt;
        xs[i] = x;
    }
    xs
}

fn main() {
    let (k, c, x0, dt, steps) = (4.0, 0.3, 1.0, 0.01, 500);
    let (xs, dx_dk) = spring_jvp(k, c, x0, dt, steps, 1.0, 0.0);
    let (_, dx_dc) = spring_jvp(k, c, x0, dt, steps, 0.0, 1.0);
    let h = 1e-6;
    let central = |dk: f64, dc: f64| -> Vec<f64> {
        let up = spring(k + h * dk, c + h * dc, x0, dt, steps);
        let down = spring(k - h * dk, c - h * dc, x0, dt, steps);
        up.iter()
            .zip(&down)
            .map(|(u, d)| (u - d) / (2.0 * h))
            .collect()
    };
    let (fd_k, fd_c) = (central(1.0, 0.0), central(0.0, 1.0));
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>12} {:>12}",
        "t", "x(t)", "dx/dk", "(central)", "dx/dc", "(central)"
    );
    for i in (0..steps).step_by(50) {
        println!(
            "{:>6.2} {:>10.5} {:>12.6} {:>12.6} {:>12.6} {:>12.6}",
            (i + 1) as f64 * dt,
            xs[i],
            dx_dk[i],
            fd_k[i],
            dx_dc[i],
            fd_c[i]
        );
    }
    let worst = dx_dk
        .iter()
        .zip(&fd_k)
        .chain(dx_dc.iter().zip(&fd_c))
        .map(|(a, b)| (a - b).abs() / 1f64.max(a.abs()))
        .fold(0.0, f64::max);
    println!("largest difference from central differences over {steps} steps: {worst:.1e}");
    assert!(worst < 1e-6);
}
