//! Collects every error of one function so they are reported together (serde's `Ctxt`).

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Clone, Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// An error spanning `node`, with a message that says what to write instead.
    pub fn spanned(&mut self, node: impl ToTokens, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(node, message));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many errors there are (to tell whether lowering a part reported one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Forgets the errors reported after the first `len` (follow-ons of an earlier one).
    pub fn truncate(&mut self, len: usize) {
        self.errors.truncate(len);
    }

    /// One `compile_error!` per error, each at its own span.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}
