fn maml_backward(
    w: &Array1<f64>,
    x_support: &Array2<f64>,
    y_support: &Array1<f64>,
    x_query: &Array2<f64>,
    y_query: &Array1<f64>,
    inner_lr: f64,
    d_out: f64,
) -> (f64, ::backprop::ndarray::Array1<f64>) {
    let (_, (g, mse_grad_part_1, mse_grad_part_2)) = mse_grad(w, x_support, y_support);
    let adapted_mul = inner_lr * &g;
    drop(g);
    let adapted = w - &adapted_mul;
    let (out, d_out_inputs) = ::backprop::args(
        mse_backward(&adapted, x_query, y_query, d_out),
    );
    drop(adapted);
    let d_adapted = d_out_inputs.0;
    let mut d_w = ::backprop::sum_to_ref(&d_adapted, w);
    let d_adapted_mul = ::backprop::sum_to(-&d_adapted, &adapted_mul);
    drop(adapted_mul);
    let d_g = inner_lr * &d_adapted_mul;
    let (_, d_mse_grad_result_inputs) = ::backprop::args(
        mse_grad_backward(
            w,
            x_support,
            y_support,
            (
                0.0,
                (
                    d_g,
                    ::backprop::ndarray::Array::zeros(mse_grad_part_1.raw_dim()),
                    ::backprop::ndarray::Array::zeros(mse_grad_part_2.raw_dim()),
                ),
            ),
        ),
    );
    drop(mse_grad_part_1);
    drop(mse_grad_part_2);
    d_w += &(d_mse_grad_result_inputs.0);
    (out, d_w)
}
