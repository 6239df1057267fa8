fn staged_backward(x: f64, y: f64, d_out: f64) -> (f64, (f64, f64)) {
    let sigy = 1.0 / (1.0 + (-y).exp());
    let num = x + sigy;
    let sigx = 1.0 / (1.0 + (-x).exp());
    let xpy = x + y;
    let xpysqr = xpy.powi(2);
    let den = sigx + xpysqr;
    let invden = 1.0 / den;
    let out = num * invden;
    let d_num = invden * d_out;
    let d_invden = num * d_out;
    let d_den = -invden / den * d_invden;
    let d_sigx = d_den;
    let d_xpysqr = d_den;
    let d_xpy = 2.0 * xpy * d_xpysqr;
    let mut d_x = d_xpy;
    let mut d_y = d_xpy;
    d_x += (1.0 - sigx) * sigx * d_sigx;
    d_x += d_num;
    let d_sigy = d_num;
    d_y += (1.0 - sigy) * sigy * d_sigy;
    (out, (d_x, d_y))
}
