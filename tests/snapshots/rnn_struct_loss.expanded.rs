fn loss_backward(
    self: &Rnn,
    xs: &Array2<f64>,
    ys: &Array2<f64>,
    d_out: f64,
) -> (f64, Rnn) {
    let self_wx = &self.wx;
    let self_wh = &self.wh;
    let self_b = &self.b;
    let self_wy = &self.wy;
    let h = Array1::zeros(self_b.len());
    let total: f64 = 0.0;
    let mut h_dot_shape_tape = ::backprop::ScalarTape::new();
    let mut h_dot_1_shape_tape = ::backprop::ScalarTape::new();
    let mut h_add_shape_tape = ::backprop::ScalarTape::new();
    let mut pred_shape_tape = ::backprop::ScalarTape::new();
    let mut err_tape = ::backprop::Tape::for_trips(0..xs.nrows());
    let mut h_1_tape = ::backprop::Tape::for_trips(0..xs.nrows());
    let mut h_1 = h;
    let mut total_1 = total;
    for t in 0..xs.nrows() {
        let h_dot = xs.row(t).dot(self_wx);
        let h_dot_1 = h_1.dot(self_wh);
        let h_add = &h_dot + &h_dot_1;
        let h_add_1 = &h_add + self_b;
        let h_2 = h_add_1.tanh();
        let pred = h_2.dot(self_wy);
        let err = &pred - &ys.row(t);
        let total_mul = &err * &err;
        let total_sum = total_mul.sum();
        let total_2 = total_1 + total_sum;
        h_dot_shape_tape.push(h_dot.raw_dim());
        h_dot_1_shape_tape.push(h_dot_1.raw_dim());
        h_add_shape_tape.push(h_add.raw_dim());
        pred_shape_tape.push(pred.raw_dim());
        err_tape.push(err);
        h_1_tape.push(::std::mem::replace(&mut h_1, h_2));
        total_1 = total_2;
    }
    let h_3 = h_1;
    let total_3 = total_1;
    let out = total_3 / (xs.nrows() as f64);
    let d_total_3 = d_out / (xs.nrows() as f64);
    let mut d_h_1 = ::backprop::ndarray::Array::zeros(h_3.raw_dim());
    let mut d_total_1 = d_total_3;
    let mut d_self_wy = ::backprop::ndarray::Array::zeros(self_wy.raw_dim());
    let mut d_self_b = ::backprop::ndarray::Array::zeros(self_b.raw_dim());
    let mut d_self_wh = ::backprop::ndarray::Array::zeros(self_wh.raw_dim());
    let mut d_self_wx = ::backprop::ndarray::Array::zeros(self_wx.raw_dim());
    let mut h_2 = h_3;
    for t in (0..xs.nrows()).rev() {
        let h_1 = h_1_tape.pop();
        let h_dot = ::backprop::Shape(h_dot_shape_tape.pop());
        let h_dot_1 = ::backprop::Shape(h_dot_1_shape_tape.pop());
        let h_add = ::backprop::Shape(h_add_shape_tape.pop());
        let pred = ::backprop::Shape(pred_shape_tape.pop());
        let err = err_tape.pop();
        let mut d_h_2 = d_h_1;
        let d_err = 2.0 * &err * d_total_1;
        let d_pred = ::backprop::sum_to(d_err, &pred);
        d_h_2 += &(self_wy.dot(&d_pred));
        d_self_wy
            += &(h_2
                .view()
                .insert_axis(::backprop::ndarray::Axis(1usize))
                .dot(&d_pred.view().insert_axis(::backprop::ndarray::Axis(0usize))));
        let d_h_add_1 = (1.0 - &h_2 * &h_2) * &d_h_2;
        let d_h_add = ::backprop::sum_to_ref(&d_h_add_1, &h_add);
        ::backprop::add_to(&mut d_self_b, &d_h_add_1);
        let d_h_dot = ::backprop::sum_to_ref(&d_h_add, &h_dot);
        let d_h_dot_1 = ::backprop::sum_to(d_h_add, &h_dot_1);
        d_h_1 = self_wh.dot(&d_h_dot_1);
        d_self_wh
            += &(h_1
                .view()
                .insert_axis(::backprop::ndarray::Axis(1usize))
                .dot(&d_h_dot_1.view().insert_axis(::backprop::ndarray::Axis(0usize))));
        d_self_wx
            += &(xs
                .row(t)
                .view()
                .insert_axis(::backprop::ndarray::Axis(1usize))
                .dot(&d_h_dot.view().insert_axis(::backprop::ndarray::Axis(0usize))));
        h_2 = h_1;
    }
    (
        out,
        Rnn {
            wx: d_self_wx,
            wh: d_self_wh,
            b: d_self_b,
            wy: d_self_wy,
        },
    )
}
