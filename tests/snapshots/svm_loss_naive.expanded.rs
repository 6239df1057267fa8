fn svm_loss_naive_backward(
    w: &[f64],
    x: &[f64],
    y: &[usize],
    n: usize,
    d: usize,
    c: usize,
    d_out: f64,
) -> (f64, ::std::vec::Vec<f64>) {
    let loss: f64 = 0.0;
    let d_loss_7 = d_out / (n as f64);
    let mut d_loss_1 = d_loss_7;
    let mut d_w = ::std::vec![0.0; w.len()];
    let mut loss_1 = loss;
    for i in 0..n {
        let mut d_loss_2 = d_loss_1;
        let mut loss_2 = loss_1;
        for j in 0..c {
            let d_loss_5 = d_loss_2;
            d_loss_2 = 0.0;
            let loss_5 = if j == y[i] {
                d_loss_2 += d_loss_5;
                loss_2
            } else {
                let margin: f64 = 1.0;
                let mut margin_1 = margin;
                for k in 0..d {
                    let margin_sub = w[k * c + j] - w[k * c + y[i]];
                    let margin_mul = x[i * d + k] * margin_sub;
                    let margin_2 = margin_1 + margin_mul;
                    margin_1 = margin_2;
                }
                let margin_3 = margin_1;
                let mut d_margin_3 = 0.0;
                let loss_4 = if margin_3 > 0.0 {
                    let loss_3 = loss_2 + margin_3;
                    d_loss_2 += d_loss_5;
                    d_margin_3 += d_loss_5;
                    let mut d_margin_1 = d_margin_3;
                    for k in (0..d).rev() {
                        let d_margin_sub = x[i * d + k] * d_margin_1;
                        d_w[k * c + j] += d_margin_sub;
                        d_w[k * c + y[i]] += -d_margin_sub;
                    }
                    loss_3
                } else {
                    d_loss_2 += d_loss_5;
                    loss_2
                };
                loss_4
            };
            loss_2 = loss_5;
        }
        let loss_6 = loss_2;
        d_loss_1 = d_loss_2;
        loss_1 = loss_6;
    }
    let loss_7 = loss_1;
    let out = loss_7 / (n as f64);
    (out, d_w)
}
