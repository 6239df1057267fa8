use backprop::{Differentiable, backprop};

#[derive(Clone, Debug, Differentiable)]
struct Critic {
    w: Vec<f64>,
    v: Vec<f64>,
}

#[backprop(hvp)]
fn critic(net: &Critic, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += net.w[i] * (net.v[i] * x[i]).tanh();
    }
    s
}

#[backprop]
fn penalised(net: &Critic, x: &[f64]) -> f64 {
    let (value, (g_net, gx)) = critic_grad(net, x);
    value + g_net.w[0] * gx[0]
}

fn main() {
    let net = Critic { w: vec![1.0], v: vec![1.0] };
    let _ = penalised_grad(&net, &[0.5]);
}
