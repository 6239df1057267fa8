fn polar_backward(r: f64, theta: f64, d_out: [f64; 2]) -> ([f64; 2], (f64, f64)) {
    let mut out: [f64; 2] = [0.0; 2];
    let out_cos = theta.cos();
    let out_mul = r * out_cos;
    out[0] = out_mul;
    let out_sin = theta.sin();
    let out_mul_1 = r * out_sin;
    out[1] = out_mul_1;
    let d_out_mul_1 = d_out[1];
    let mut d_r = out_sin * d_out_mul_1;
    let d_out_sin = r * d_out_mul_1;
    let mut d_theta = theta.cos() * d_out_sin;
    let d_out_mul = d_out[0];
    d_r += out_cos * d_out_mul;
    let d_out_cos = r * d_out_mul;
    d_theta += -theta.sin() * d_out_cos;
    (out, (d_r, d_theta))
}
