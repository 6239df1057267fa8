fn triangular_sqnorm_backward(
    d: usize,
    icf: &[f64],
    x: &[f64],
    d_out: f64,
) -> (f64, (::std::vec::Vec<f64>, ::std::vec::Vec<f64>)) {
    let n = x.len() / d;
    let mut qx: ::std::vec::Vec<f64> = ::std::vec![0.0; d];
    let total: f64 = 0.0;
    let mut qx_tape = ::backprop::ScalarTape::new();
    let mut qx_exp_tape = ::backprop::ScalarTape::new();
    let mut lparamsidx_5_tape = ::backprop::ScalarTape::new();
    let mut total_exp_tape = ::backprop::ScalarTape::new();
    let mut total_1 = total;
    for p in 0..n {
        qx_tape.push_slice(&qx);
        for id in 0..d {
            let qx_exp = icf[id].exp();
            let qx_mul = qx_exp * x[p * d + id];
            qx[id] = qx_mul;
            qx_exp_tape.push(qx_exp);
        }
        let lparamsidx = d;
        let mut lparamsidx_1 = lparamsidx;
        for i in 0..d {
            let mut lparamsidx_2 = lparamsidx_1;
            for j in i + 1..d {
                let qx_mul_1 = icf[lparamsidx_2] * x[p * d + i];
                qx[j] += qx_mul_1;
                let lparamsidx_3 = lparamsidx_2 + 1;
                lparamsidx_2 = lparamsidx_3;
            }
            let lparamsidx_4 = lparamsidx_2;
            lparamsidx_1 = lparamsidx_4;
        }
        let lparamsidx_5 = lparamsidx_1;
        let sqnorm: f64 = 0.0;
        let mut sqnorm_1 = sqnorm;
        for id in 0..d {
            let sqnorm_mul = qx[id] * qx[id];
            let sqnorm_2 = sqnorm_1 + sqnorm_mul;
            sqnorm_1 = sqnorm_2;
        }
        let sqnorm_3 = sqnorm_1;
        let total_mul = (-0.5) * sqnorm_3;
        let total_exp = total_mul.exp();
        let total_2 = total_1 + total_exp;
        lparamsidx_5_tape.push(lparamsidx_5);
        total_exp_tape.push(total_exp);
        total_1 = total_2;
    }
    let total_3 = total_1;
    let out = total_3.ln();
    let d_total_3 = d_out / total_3;
    let mut d_total_1 = d_total_3;
    let mut d_qx = ::std::vec![0.0; qx.len()];
    let mut d_icf = ::std::vec![0.0; icf.len()];
    let mut d_x = ::std::vec![0.0; x.len()];
    for p in (0..n).rev() {
        let lparamsidx_5 = lparamsidx_5_tape.pop();
        let total_exp = total_exp_tape.pop();
        let d_total_mul = total_exp * d_total_1;
        let d_sqnorm_3 = (-0.5) * d_total_mul;
        let mut d_sqnorm_1 = d_sqnorm_3;
        for id in (0..d).rev() {
            d_qx[id] += 2.0 * qx[id] * d_sqnorm_1;
        }
        let mut lparamsidx_4 = lparamsidx_5;
        for i in (0..d).rev() {
            let mut lparamsidx_2 = lparamsidx_4;
            let mut d_x_p_d_i = d_x[p * d + i];
            for j in (i + 1..d).rev() {
                lparamsidx_2 -= 1;
                let d_qx_mul_1 = d_qx[j];
                d_icf[lparamsidx_2] += x[p * d + i] * d_qx_mul_1;
                d_x_p_d_i += icf[lparamsidx_2] * d_qx_mul_1;
            }
            d_x[p * d + i] = d_x_p_d_i;
            lparamsidx_4 = lparamsidx_2;
        }
        for id in (0..d).rev() {
            let qx_exp = qx_exp_tape.pop();
            let d_qx_mul = d_qx[id];
            d_qx[id] = 0.0;
            let d_qx_exp = x[p * d + id] * d_qx_mul;
            d_x[p * d + id] += qx_exp * d_qx_mul;
            d_icf[id] += qx_exp * d_qx_exp;
        }
        qx_tape.pop_slice(&mut qx);
    }
    (out, (d_icf, d_x))
}
