// Nested structs of two float types: the outer struct's differentiable fields share one.
#[derive(backprop::Differentiable)]
struct Encoder {
    w: Vec<f64>,
}

#[derive(backprop::Differentiable)]
struct Decoder {
    w: Vec<f32>,
}

#[derive(backprop::Differentiable)]
struct Autoencoder {
    encoder: Encoder,
    decoder: Decoder,
}

fn main() {}
