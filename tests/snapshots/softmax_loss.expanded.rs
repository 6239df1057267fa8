fn softmax_loss_backward(
    w: &Array2<f64>,
    x: &Array2<f64>,
    y: &[usize],
    reg: f64,
    d_out: f64,
) -> (f64, ::backprop::ndarray::Array2<f64>) {
    let scores = x.dot(w);
    let log_probs = ::backprop::log_softmax(scores, Axis(1));
    let data_loss_pick = ::backprop::pick(&log_probs, y);
    let data_loss_mean = data_loss_pick.mean().unwrap();
    let data_loss = -data_loss_mean;
    let out_mul = w * w;
    let out_sum = out_mul.sum();
    drop(out_mul);
    let out_mul_1 = (0.5 * reg) * out_sum;
    let out = data_loss + out_mul_1;
    let d_data_loss = d_out;
    let d_out_mul_1 = d_out;
    let d_out_sum = (0.5 * reg) * d_out_mul_1;
    let mut d_w = 2.0 * w * d_out_sum;
    let d_data_loss_mean = -d_data_loss;
    let d_log_probs = ::backprop::one_hot(
        &log_probs,
        y,
        (d_data_loss_mean / data_loss_pick.len() as f64),
    );
    drop(data_loss_pick);
    let d_scores = ::backprop::log_softmax_grad(log_probs, Axis(1), d_log_probs);
    ::backprop::ndarray::linalg::general_mat_mul(1.0, &x.t(), &d_scores, 1.0, &mut d_w);
    (out, d_w)
}
