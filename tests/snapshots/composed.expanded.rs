fn composed_backward(x: f64, y: f64, d_out: f64) -> (f64, (f64, f64)) {
    let a_mul = x * y;
    let a = softsign(a_mul);
    let b_sigmoid = ::backprop::sigmoid(a);
    let b_staged = staged(a, y);
    let b = b_sigmoid + b_staged;
    let out = b * x;
    let d_b = x * d_out;
    let mut d_x = b * d_out;
    let d_b_sigmoid = d_b;
    let d_b_staged = d_b;
    let (_, d_b_staged_inputs) = ::backprop::args(staged_backward(a, y, d_b_staged));
    let mut d_a = d_b_staged_inputs.0;
    let mut d_y = d_b_staged_inputs.1;
    d_a += ::backprop::sigmoid_backward(a, d_b_sigmoid).1;
    let d_a_mul = softsign_backward(a_mul, d_a).1;
    d_x += y * d_a_mul;
    d_y += x * d_a_mul;
    (out, (d_x, d_y))
}
