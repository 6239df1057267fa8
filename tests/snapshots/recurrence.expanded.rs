fn recurrence_backward(
    w: &[f64],
    h0: f64,
    d_out: f64,
) -> (f64, (::std::vec::Vec<f64>, f64)) {
    let h = h0;
    let total: f64 = 0.0;
    let mut h_1_tape = ::backprop::ScalarTape::new();
    let mut h_1 = h;
    let mut total_1 = total;
    for i in 0..w.len() {
        h_1_tape.push(h_1);
        let h_mul = h_1 * w[i];
        let h_2 = h_mul.tanh();
        let total_2 = total_1 + h_2;
        h_1 = h_2;
        total_1 = total_2;
    }
    let h_3 = h_1;
    let total_3 = total_1;
    let d_total_3 = d_out;
    let mut d_h_1 = 0.0;
    let mut d_total_1 = d_total_3;
    let mut d_w = ::std::vec![0.0; w.len()];
    let mut h_2 = h_3;
    for i in (0..w.len()).rev() {
        let h_1 = h_1_tape.pop();
        let mut d_h_2 = d_h_1;
        d_h_2 += d_total_1;
        let d_h_mul = (1.0 - h_2 * h_2) * d_h_2;
        d_h_1 = w[i] * d_h_mul;
        d_w[i] += h_1 * d_h_mul;
        h_2 = h_1;
    }
    let d_h = d_h_1;
    let d_h0 = d_h;
    (total_3, (d_w, d_h0))
}
