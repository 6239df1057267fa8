fn squashed_backward(
    x: &[f64; 3],
    y: f64,
    mut d_out: [f64; 3],
) -> ([f64; 3], ([f64; 3], f64)) {
    let mut r: [f64; 3] = [0.0; 3];
    for i in 0..3 {
        let r_mul = x[i] * y;
        r[i] = r_mul;
    }
    let mut r_tape = ::backprop::ScalarTape::new();
    let mut r_tanh_tape = ::backprop::ScalarTape::new();
    for i in 0..3 {
        let r_mul_1 = r[i] * r[i];
        let r_add = r_mul_1 + y;
        let r_tanh = r_add.tanh();
        r_tape.push(r[i]);
        r[i] = r_tanh;
        r_tanh_tape.push(r_tanh);
    }
    let r_value = r;
    let mut d_y = 0.0;
    for i in (0..3).rev() {
        let r_tanh = r_tanh_tape.pop();
        let d_r_tanh = d_out[i];
        d_out[i] = 0.0;
        r[i] = r_tape.pop();
        let d_r_add = (1.0 - r_tanh * r_tanh) * d_r_tanh;
        d_y += d_r_add;
        d_out[i] += 2.0 * r[i] * d_r_add;
    }
    let mut d_x = [0.0; 3];
    for i in (0..3).rev() {
        let d_r_mul = d_out[i];
        d_out[i] = 0.0;
        d_x[i] += y * d_r_mul;
        d_y += x[i] * d_r_mul;
    }
    (r_value, (d_x, d_y))
}
