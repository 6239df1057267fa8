fn states_backward(w: f64, x: &[f64], d_out: f64) -> (f64, (f64, ::std::vec::Vec<f64>)) {
    let n = x.len();
    let mut hs: ::std::vec::Vec<f64> = ::std::vec![0.0; n + 1];
    for t in 1..=n {
        let hs_mul = hs[t - 1] * w;
        let hs_add = hs_mul + x[t - 1];
        let hs_tanh = hs_add.tanh();
        hs[t] = hs_tanh;
    }
    let loss: f64 = 0.0;
    let d_loss_3 = d_out;
    let mut d_loss_1 = d_loss_3;
    let mut d_hs = ::std::vec![0.0; hs.len()];
    let mut loss_1 = loss;
    for t in 1..=n {
        let loss_mul = hs[t] * hs[t];
        let loss_2 = loss_1 + loss_mul;
        d_hs[t] += 2.0 * hs[t] * d_loss_1;
        loss_1 = loss_2;
    }
    let loss_3 = loss_1;
    let mut d_x = ::std::vec![0.0; x.len()];
    let mut d_w = 0.0;
    for t in (1..=n).rev() {
        let hs_tanh = hs[t];
        let d_hs_tanh = d_hs[t];
        let d_hs_add = (1.0 - hs_tanh * hs_tanh) * d_hs_tanh;
        d_x[t - 1] += d_hs_add;
        d_hs[t - 1] += w * d_hs_add;
        d_w += hs[t - 1] * d_hs_add;
    }
    (loss_3, (d_w, d_x))
}
