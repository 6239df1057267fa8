fn unrolled_backward(
    w: &[f64],
    x: &[f64],
    d_out: f64,
) -> (f64, (::std::vec::Vec<f64>, ::std::vec::Vec<f64>)) {
    let h: f64 = 0.0;
    let mut h_2_reverse_tape = ::backprop::Tape::for_trips(0..w.len());
    let mut h_1 = h;
    for i in 0..w.len() {
        let (h_2, h_2_reverse) = cell_forward(h_1, w[i], x[i]);
        h_2_reverse_tape.push(h_2_reverse);
        h_1 = h_2;
    }
    let h_3 = h_1;
    let out = h_3 * h_3;
    let d_h_3 = 2.0 * h_3 * d_out;
    let mut d_h_1 = d_h_3;
    let mut d_w = ::std::vec![0.0; w.len()];
    let mut d_x = ::std::vec![0.0; x.len()];
    for i in (0..w.len()).rev() {
        let h_2_reverse = h_2_reverse_tape.pop();
        let d_h_2_inputs = ::backprop::split_args(h_2_reverse(d_h_1));
        d_h_1 = d_h_2_inputs.0;
        d_w[i] += d_h_2_inputs.1;
        d_x[i] += d_h_2_inputs.2;
    }
    (out, (d_w, d_x))
}
