//! `counter!`, `gauge!`, `histogram!`: a plugin's own metrics. Parses
//! `Plugin, "name" (, "key" => value)*`, checks the name and keys, and expands to a
//! `static` call site resolved once.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, LitStr, Token, Type};

use crate::errors::Errors;

/// Suffixes the exporter adds; kept in step with `plugobs_runtime::custom`.
const RESERVED_SUFFIXES: &[&str] = &["_total", "_bucket", "_sum", "_count", "_created", "_info"];
/// Label keys plugobs sets; kept in step with `plugobs_runtime::custom`.
const RESERVED_LABELS: &[&str] = &["plugin", "kind", "operation", "instance", "le", "quantile"];

/// Which macro.
#[derive(Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Input {
    plugin: Type,
    name: LitStr,
    labels: Vec<(LitStr, Expr)>,
    crate_path: Option<syn::Path>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let crate_path = if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            let path = input.parse::<syn::Path>()?;
            input.parse::<Token![;]>()?;
            Some(path)
        } else {
            None
        };
        let plugin: Type = input.parse()?;
        input.parse::<Token![,]>()?;
        let name: LitStr = input.parse()?;
        let mut labels = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let value: Expr = input.parse()?;
            labels.push((key, value));
        }
        Ok(Input {
            plugin,
            name,
            labels,
            crate_path,
        })
    }
}

fn snake_case(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'_'
        && !s.contains("__")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn check(input: &Input) -> Result<(), syn::Error> {
    let mut errors = Errors::default();
    let name = input.name.value();
    if !snake_case(&name) {
        errors.push(syn::Error::new(
            input.name.span(),
            format!(
                "metric name `{name}` is not snake_case: use lowercase letters, digits and single underscores, starting with a letter, e.g. \"cache_hits\""
            ),
        ));
    } else if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        errors.push(syn::Error::new(
            input.name.span(),
            format!(
                "metric name `{name}` ends in `{suffix}`, which the exporter adds itself: write \"{}\"",
                name.trim_end_matches(suffix)
            ),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (key, _) in &input.labels {
        let k = key.value();
        if !snake_case(&k) {
            errors.push(syn::Error::new(
                key.span(),
                format!("label key `{k}` is not snake_case"),
            ));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            errors.push(syn::Error::new(
                key.span(),
                format!("label key `{k}` is set by plugobs; choose another key"),
            ));
        } else if seen.contains(&k) {
            errors.push(syn::Error::new(
                key.span(),
                format!("label key `{k}` is given twice"),
            ));
        }
        seen.push(k);
    }
    match errors.into_error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Expands one custom-metric macro call.
pub fn entry(kind: Kind, tokens: TokenStream) -> TokenStream {
    let input: Input = match syn::parse2(tokens) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    // On a bad name or key, the errors go first in the block and the call still expands
    // to a handle of the right type, so the code around it gives no second error.
    let errors = check(&input).err().map(|e| e.to_compile_error());
    let krate = input
        .crate_path
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::plugobs));
    let private = quote!(#krate::__private);
    let (kind_variant, handle) = match kind {
        Kind::Counter => (quote!(Counter), quote!(Counter)),
        Kind::Gauge => (quote!(Gauge), quote!(Gauge)),
        Kind::Histogram => (quote!(Histogram), quote!(Histogram)),
    };
    let plugin = &input.plugin;
    let name = &input.name;
    let keys = input.labels.iter().map(|(k, _)| k);
    let values = input.labels.iter().map(|(_, v)| {
        quote! { { let value: &'static str = #v; value } }
    });
    quote! {
        {
            #errors
            static __PLUGOBS_METRIC: #private::CustomSite = #private::CustomSite::new(
                #name,
                #private::CustomKind::#kind_variant,
                &[#(#keys),*],
            );
            #private::#handle::of(
                __PLUGOBS_METRIC.metric(<#plugin as #private::Plugin>::DESCRIPTOR),
                &[#(#values),*],
            )
        }
    }
}
