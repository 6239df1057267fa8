//! GradBench's evals written as a Rust programmer would write them, each derivative from the
//! `#[backprop]` companions of the function (`_grad`, `_backward`), never by hand.
//!
//! [`protocol::handle`] answers one message of GradBench's protocol; `main.rs` feeds it
//! stdin's lines.

pub mod ba;
pub mod descent;
pub mod det;
pub mod gmm;
pub mod hello;
pub mod ht;
pub mod kmeans;
pub mod llsq;
pub mod lse;
pub mod lstm;
pub mod ode;
pub mod particle;
pub mod protocol;
pub mod saddle;

#[cfg(test)]
mod testing;
