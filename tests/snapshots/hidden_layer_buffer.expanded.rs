fn hidden_layer_backward(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    x: &[f64],
    n_hidden: usize,
    d_out: f64,
) -> (f64, (::std::vec::Vec<f64>, ::std::vec::Vec<f64>, ::std::vec::Vec<f64>)) {
    let d = x.len();
    let mut h: ::std::vec::Vec<f64> = ::std::vec![0.0; n_hidden];
    let mut s_3_tape = ::backprop::ScalarTape::new();
    for j in 0..n_hidden {
        let s = b1[j];
        let mut s_1 = s;
        for i in 0..d {
            let s_mul = w1[j * d + i] * x[i];
            let s_2 = s_1 + s_mul;
            s_1 = s_2;
        }
        let s_3 = s_1;
        let h_max = s_3.max(0.0);
        h[j] = h_max;
        s_3_tape.push(s_3);
    }
    let out: f64 = 0.0;
    let d_out_3 = d_out;
    let mut d_out_1 = d_out_3;
    let mut d_w2 = ::std::vec![0.0; w2.len()];
    let mut d_h = ::std::vec![0.0; h.len()];
    let mut out_1 = out;
    for j in 0..n_hidden {
        let out_mul = w2[j] * h[j];
        let out_2 = out_1 + out_mul;
        d_w2[j] += h[j] * d_out_1;
        d_h[j] += w2[j] * d_out_1;
        out_1 = out_2;
    }
    let out_3 = out_1;
    let mut d_w1 = ::std::vec![0.0; w1.len()];
    let mut d_b1 = ::std::vec![0.0; b1.len()];
    for j in (0..n_hidden).rev() {
        let s_3 = s_3_tape.pop();
        let d_h_max = d_h[j];
        let d_s_3 = if s_3 >= 0.0 { d_h_max } else { 0.0 };
        let mut d_s_1 = d_s_3;
        for i in (0..d).rev() {
            d_w1[j * d + i] += x[i] * d_s_1;
        }
        d_b1[j] += d_s_1;
    }
    (out_3, (d_w1, d_b1, d_w2))
}
