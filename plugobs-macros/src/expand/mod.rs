//! Code generation. Runs only on validated input and cannot fail.

pub mod custom;
pub mod error_kind;
pub mod instrumented;
pub mod plugin;

use proc_macro2::TokenStream;
use quote::quote;

use crate::args::Objective;

/// `objective` as the runtime's `Objective`, a constant expression.
pub(crate) fn objective(p: &TokenStream, objective: Objective) -> TokenStream {
    let success = match objective.success_ppm {
        Some(ppm) => quote!(#p::Some(#ppm)),
        None => quote!(#p::None),
    };
    let latency = match objective.latency_nanos {
        Some(nanos) => quote!(#p::Some(::core::time::Duration::from_nanos(#nanos))),
        None => quote!(#p::None),
    };
    quote!(#p::Objective { success_ppm: #success, latency: #latency })
}
