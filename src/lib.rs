//! placeholder
pub use backprop_macro::backprop;
pub use backprop_runtime::*;
