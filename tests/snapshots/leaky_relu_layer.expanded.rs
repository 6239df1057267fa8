fn leaky_relu_layer_backward(
    z: &Array2<f64>,
    alpha: f64,
    d_out: Array2<f64>,
) -> (Array2<f64>, (::backprop::ndarray::Array2<f64>, f64)) {
    fn out_map(v: f64, alpha: f64) -> f64 {
        if v > 0.0 { v } else { alpha * v }
    }
    fn out_map_backward(v: f64, alpha: f64, d_out: f64) -> (f64, (f64, f64)) {
        let out = if v > 0.0 { v } else { alpha * v };
        let mut d_v = 0.0;
        let mut d_alpha = 0.0;
        if v > 0.0 {
            d_v += d_out;
        } else {
            let d_out_mul = d_out;
            d_alpha += v * d_out_mul;
            d_v += alpha * d_out_mul;
        }
        (out, (d_v, d_alpha))
    }
    let out = z.mapv(|e| out_map(e, alpha));
    let mut d_out_inputs = (::backprop::ndarray::Array::zeros(z.raw_dim()), 0.0);
    ::backprop::ndarray::Zip::from(&mut d_out_inputs.0)
        .and(z.view())
        .and(&d_out)
        .for_each(|g, &e, &d_e| {
            let grads = out_map_backward(e, alpha, d_e).1;
            *g = grads.0;
            d_out_inputs.1 += grads.1;
        });
    let d_z = d_out_inputs.0;
    let d_alpha = d_out_inputs.1;
    (out, (d_z, d_alpha))
}
