fn neuron_backward(w: [f64; 3], x: [f64; 2], d_out: f64) -> (f64, ([f64; 3], [f64; 2])) {
    let dot_mul = w[0] * x[0];
    let dot_mul_1 = w[1] * x[1];
    let dot_add = dot_mul + dot_mul_1;
    let dot = dot_add + w[2];
    let out = 1.0 / (1.0 + (-dot).exp());
    let d_dot = (1.0 - out) * out * d_out;
    let d_dot_add = d_dot;
    let mut d_w = [0.0; 3];
    d_w[2] = d_dot;
    let d_dot_mul = d_dot_add;
    let d_dot_mul_1 = d_dot_add;
    d_w[1] = x[1] * d_dot_mul_1;
    let mut d_x = [0.0; 2];
    d_x[1] = w[1] * d_dot_mul_1;
    d_w[0] = x[0] * d_dot_mul;
    d_x[0] = w[0] * d_dot_mul;
    (out, (d_w, d_x))
}
