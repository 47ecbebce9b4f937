//! `counter!`, `gauge!`, `histogram!`: a plugin's own metrics, as a `static` call site
//! resolved once.

use proc_macro2::TokenStream;
use quote::quote;

use crate::args::{CustomArgs, private_path};
use crate::ast::{CustomMetric, MetricKind};
use crate::errors::Errors;
use crate::fallback;
use crate::valid;

/// Entry point: parse -> model -> validate -> expand.
pub fn entry(kind: MetricKind, tokens: TokenStream) -> TokenStream {
    let args: CustomArgs = match syn::parse2(tokens) {
        Ok(args) => args,
        Err(e) => return e.to_compile_error(),
    };
    let model = CustomMetric::from_syn(kind, &args);
    match try_expand(&model) {
        Ok(expanded) => expanded,
        Err(error) => fallback::custom(error, &model),
    }
}

fn try_expand(model: &CustomMetric<'_>) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    valid::custom(model, &mut errors);
    errors.finish()?;
    Ok(expand(model))
}

/// The call site and the handle it gives. Also what a rejected call expands to (after
/// its errors), so the code around it gets a handle of the right type.
pub fn expand(model: &CustomMetric<'_>) -> TokenStream {
    let p = private_path(model.krate);
    let (kind_variant, handle) = match model.kind {
        MetricKind::Counter => (quote!(Counter), quote!(Counter)),
        MetricKind::Gauge => (quote!(Gauge), quote!(Gauge)),
        MetricKind::Histogram => (quote!(Histogram), quote!(Histogram)),
    };
    let plugin = model.plugin;
    let name = model.name;
    let keys = model.labels.iter().map(|l| l.key);
    let values = model.labels.iter().map(|l| {
        let v = l.value;
        quote! { { let value: &'static str = #v; value } }
    });
    quote! {
        {
            static __PLUGOBS_METRIC: #p::CustomSite = #p::CustomSite::new(
                #name,
                #p::CustomKind::#kind_variant,
                &[#(#keys),*],
            );
            #p::#handle::of(
                __PLUGOBS_METRIC.metric(<#plugin as #p::Plugin>::DESCRIPTOR),
                &[#(#values),*],
            )
        }
    }
}
