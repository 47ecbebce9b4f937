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

/// `breaker` as the runtime's `BreakerSettings`, a constant expression: what is not
/// given takes the runtime's default.
pub(crate) fn breaker(p: &TokenStream, b: crate::args::Breaker) -> TokenStream {
    let d = quote::quote!(#p::BreakerSettings::DEFAULT);
    let trip = match b.consecutive {
        Some(n) => quote::quote!(#p::Trip::Consecutive(#n)),
        None => {
            let ppm = match b.failure_ppm {
                Some(ppm) => quote::quote!(#ppm),
                None => quote::quote!(500_000u32),
            };
            let window = match b.window_nanos {
                Some(n) => quote::quote!(#p::Duration::from_nanos(#n)),
                None => quote::quote!(#p::Duration::from_secs(10)),
            };
            let min = match b.min_calls {
                Some(n) => quote::quote!(#n),
                None => quote::quote!(20u32),
            };
            quote::quote!(#p::Trip::Ratio { failure_ppm: #ppm, window: #window, min_calls: #min })
        }
    };
    let open = match b.open_nanos {
        Some(n) => quote::quote!(#p::Duration::from_nanos(#n)),
        None => quote::quote!(#d.open_for),
    };
    let probes = match b.probes {
        Some(n) => quote::quote!(#n),
        None => quote::quote!(#d.probes),
    };
    quote::quote!(#p::BreakerSettings { trip: #trip, open_for: #open, probes: #probes })
}
