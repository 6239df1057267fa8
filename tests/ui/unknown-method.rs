use backprop::backprop;

trait Softsign {
    fn softsign(self) -> f64;
}

impl Softsign for f64 {
    fn softsign(self) -> f64 {
        self / (1.0 + self.abs())
    }
}

#[backprop]
fn activation(x: f64) -> f64 {
    let y = x.softsign();
    y * 2.0
}

fn main() {
    let (_y, _dx) = activation_grad(3.0);
}
