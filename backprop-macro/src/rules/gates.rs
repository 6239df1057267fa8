//! The runtime's gates that have rules here rather than a `_backward` call: the tensor gates
//! whose gradient generated code takes from a gradient-only function (`relu_grad`, ...), and
//! the runtime functions that compute in an argument's buffer.

use proc_macro2::TokenStream;
use quote::quote;

use super::Prim;

/// A gate's gradient from its value `y`, its arguments as written and the upstream `d`.
pub(crate) type GateGradient = fn(&TokenStream, &[TokenStream], &TokenStream) -> TokenStream;

/// A runtime tensor gate whose gradient generated code takes from a gradient-only function:
/// its `_backward` (the composition contract) would compute again the value the forward pass
/// already holds.
pub(crate) struct GateRule {
    pub(crate) name: &'static str,
    pub(crate) grad: GateGradient,
    /// The gradient not written out (`one_hot`), for when its only reader is another gate's
    /// gradient-only function, which takes it as its upstream.
    pub(crate) unwritten: Option<GateGradient>,
    /// The tangent of the value from the tangent `t` of the first argument (forward mode); the
    /// gradient itself where the Jacobian is symmetric (elementwise gates, softmax).
    pub(crate) tangent: Option<GateGradient>,
    /// The same tangent written in the forward language, where `tangent` calls a runtime
    /// function: second order differentiates the tangent lines again (`#[backprop(hvp)]`).
    pub(crate) plain_tangent: Option<GateGradient>,
}

/// The gates of [`GateRule`]. Only for calls written `backprop::name(..)` on arrays: a user's own
/// `relu` keeps its own `relu_backward`.
const GATE_GRADIENTS: &[GateRule] = &[
    // relu's value is positive (or NaN) exactly where its argument is: its argument need not
    // be kept, and the forward pass can compute relu in the argument's buffer.
    GateRule {
        name: "relu",
        grad: |y, _, d| quote!(::backprop::relu_grad(#y, #d)),
        unwritten: None,
        tangent: Some(|y, _, t| quote!(::backprop::relu_grad(#y, #t))),
        plain_tangent: Some(|y, _, t| quote!(#y.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }) * #t)),
    },
    GateRule {
        name: "sigmoid",
        grad: |y, _, d| quote!(::backprop::sigmoid_grad(#y, #d)),
        unwritten: None,
        tangent: Some(|y, _, t| quote!(::backprop::sigmoid_grad(#y, #t))),
        // σ' = σ (1 − σ).
        plain_tangent: Some(|y, _, t| quote!(#y * &(1.0 - #y) * #t)),
    },
    // softplus' = σ(x) = 1 − e^(−y) from its value y (e^y = 1 + e^x): the backward pass needs
    // neither its argument nor a second evaluation.
    GateRule {
        name: "softplus",
        grad: |y, _, d| quote!(::backprop::softplus_grad(#y, #d)),
        unwritten: None,
        tangent: Some(|y, _, t| quote!(::backprop::softplus_grad(#y, #t))),
        plain_tangent: Some(|y, _, t| quote!((1.0 - #y.mapv(|v| (-v).exp())) * #t)),
    },
    GateRule {
        name: "softmax",
        grad: |y, args, d| {
            let axis = &args[1];
            quote!(::backprop::softmax_grad(#y, #axis, #d))
        },
        unwritten: None,
        tangent: Some(|y, args, t| {
            let axis = &args[1];
            quote!(::backprop::softmax_grad(#y, #axis, #t))
        }),
        // s ⊙ (t − Σ s ⊙ t) along the axis.
        plain_tangent: Some(|y, args, t| {
            let axis = &args[1];
            quote!(#y * &(#t - &(#y * #t).sum_axis(#axis).insert_axis(#axis)))
        }),
    },
    GateRule {
        name: "log_softmax",
        grad: |y, args, d| {
            let axis = &args[1];
            quote!(::backprop::log_softmax_grad(#y, #axis, #d))
        },
        unwritten: None,
        // y = x − logsumexp(x): t − Σ softmax(x) ⊙ t along the axis.
        tangent: Some(|y, args, t| {
            let axis = &args[1];
            quote!(#t - &(#y.exp() * #t).sum_axis(#axis).insert_axis(#axis))
        }),
        plain_tangent: None,
    },
    GateRule {
        name: "pick",
        grad: |_, args, d| {
            let (a, labels) = (&args[0], &args[1]);
            quote!(::backprop::pick_grad(#a, #labels, #d))
        },
        unwritten: Some(|_, args, d| {
            let (a, labels) = (&args[0], &args[1]);
            quote!(::backprop::one_hot(#a, #labels, #d))
        }),
        // Linear: the picked entries of the tangent.
        tangent: Some(|_, args, t| {
            let labels = &args[1];
            quote!(::backprop::pick(#t, #labels))
        }),
        plain_tangent: None,
    },
];

/// Runtime functions that take an array argument (at this position) by value as well as by
/// reference and then compute in its buffer: generated code hands over a forward array at its
/// last use instead of dropping it after.
pub const REUSE_BUFFER: &[(&str, usize)] = &[
    ("relu", 0),
    ("sigmoid", 0),
    ("softplus", 0),
    ("softmax", 0),
    ("log_softmax", 0),
    ("log_softmax_grad", 0),
];

/// The gradient-only rule of a call `backprop::name(..)`, if it has one.
pub(crate) fn gate_gradient(path: &TokenStream) -> Option<&'static GateRule> {
    let name = runtime_gate_name(path)?;
    GATE_GRADIENTS.iter().find(|rule| rule.name == name)
}

/// `name` of a call written `backprop::name` (or `::backprop::name`).
pub(crate) fn runtime_gate_name(path: &TokenStream) -> Option<String> {
    let text = path.to_string().replace(' ', "");
    text.strip_prefix("::backprop::")
        .or_else(|| text.strip_prefix("backprop::"))
        .map(str::to_string)
}

/// Whether a call's gradient-only rule takes a single scalar for an upstream gradient that is
/// the same for every entry (`pick_grad`, after `.mean()` of the picked entries).
pub fn takes_uniform_upstream(prim: &Prim) -> bool {
    match prim {
        Prim::Call { path, .. } => runtime_gate_name(path).as_deref() == Some("pick"),
        Prim::Table { .. } => true,
        _ => false,
    }
}
