fn rnn_step_backward(
    x: &Array2<f64>,
    prev_h: &Array2<f64>,
    wx: &Array2<f64>,
    wh: &Array2<f64>,
    b: &Array1<f64>,
    d_out: Array2<f64>,
) -> (
    Array2<f64>,
    (
        ::backprop::ndarray::Array2<f64>,
        ::backprop::ndarray::Array2<f64>,
        ::backprop::ndarray::Array2<f64>,
        ::backprop::ndarray::Array2<f64>,
        ::backprop::ndarray::Array1<f64>,
    ),
) {
    let out_dot = x.dot(wx);
    let out_dot_1 = prev_h.dot(wh);
    let out_add = &out_dot + &out_dot_1;
    let out_add_1 = &out_add + b;
    let out = out_add_1.tanh();
    drop(out_add_1);
    let d_out_add_1 = (1.0 - &out * &out) * &d_out;
    let d_b = ::backprop::sum_to_ref(&d_out_add_1, b);
    let d_out_add = ::backprop::sum_to(d_out_add_1, &out_add);
    drop(out_add);
    let d_out_dot = ::backprop::sum_to_ref(&d_out_add, &out_dot);
    drop(out_dot);
    let d_out_dot_1 = ::backprop::sum_to(d_out_add, &out_dot_1);
    drop(out_dot_1);
    let d_prev_h = d_out_dot_1.dot(&wh.t());
    let d_wh = prev_h.t().dot(&d_out_dot_1);
    let d_x = d_out_dot.dot(&wx.t());
    let d_wx = x.t().dot(&d_out_dot);
    (out, (d_x, d_prev_h, d_wx, d_wh, d_b))
}
