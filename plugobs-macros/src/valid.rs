//! Every cross-check, with all errors collected and spanned on the offending token.

use syn::{LitStr, Type};

use crate::args::{InstrumentedArgs, Place, PluginArgs};
use crate::ast::PluginStruct;

/// Collects errors so a user sees all of them at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn non_empty(errors: &mut Errors, lit: Option<&LitStr>, key: &str) {
    if let Some(lit) = lit {
        if lit.value().trim().is_empty() {
            errors.push(syn::Error::new(
                lit.span(),
                format!("`{key}` cannot be empty"),
            ));
        }
    }
}

pub fn plugin(args: &PluginArgs, item: &PluginStruct<'_>) -> syn::Result<()> {
    let mut errors = Errors::default();
    let generics = &item.item.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            generics,
            "a plugin cannot be generic: the registry needs one concrete type per plugin; \
             register a concrete wrapper instead, e.g. `struct U8Sink(Sink<u8>);`",
        ));
    }
    if let Some(name) = &args.name {
        let v = name.value();
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            errors.push(syn::Error::new(
                name.span(),
                "a plugin name may use ASCII letters, digits, `_`, `-` and `.`",
            ));
        }
    }
    non_empty(&mut errors, args.name.as_ref(), "name");
    non_empty(&mut errors, args.kind.as_ref(), "kind");
    non_empty(&mut errors, args.version.as_ref(), "version");
    for ty in &args.provides {
        if !matches!(ty, Type::TraitObject(t) if t.dyn_token.is_some()) {
            errors.push(syn::Error::new_spanned(
                ty,
                "`provides` takes trait object types: `provides = dyn Sink` or `provides = [dyn Sink, dyn Source]`",
            ));
        }
    }
    errors.finish()
}

/// `#[instrumented]` on something that is not an impl block or a function.
pub fn not_instrumentable(item: &syn::Item) -> syn::Error {
    use syn::spanned::Spanned;
    let (span, what, hint) = match item {
        syn::Item::Struct(s) => (
            s.struct_token.span(),
            "a struct",
            "put it on the struct's `impl` blocks",
        ),
        syn::Item::Enum(e) => (
            e.enum_token.span(),
            "an enum",
            "put it on the enum's `impl` blocks",
        ),
        syn::Item::Trait(t) => (
            t.trait_token.span(),
            "a trait definition",
            "put it on each plugin's `impl Trait for Plugin` block",
        ),
        other => (
            other.span(),
            "this item",
            "put it on an impl block or a function",
        ),
    };
    syn::Error::new(
        span,
        format!("`#[instrumented]` cannot go on {what}; {hint}"),
    )
}

/// The span level from `level = "..."`; DEBUG by default.
pub fn level(
    lit: Option<&LitStr>,
    p: &proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let Some(lit) = lit else {
        return Ok(quote::quote!(#p::tracing::Level::DEBUG));
    };
    let level = match lit.value().to_ascii_lowercase().as_str() {
        "trace" => quote::quote!(TRACE),
        "debug" => quote::quote!(DEBUG),
        "info" => quote::quote!(INFO),
        "warn" => quote::quote!(WARN),
        "error" => quote::quote!(ERROR),
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                "unknown level; use one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"",
            ));
        }
    };
    Ok(quote::quote!(#p::tracing::Level::#level))
}

/// Every check on one function to instrument.
pub fn function(sig: &syn::Signature, args: &InstrumentedArgs, place: Place) -> syn::Result<()> {
    let mut errors = Errors::default();
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "a `const fn` cannot be instrumented: timing it needs a clock at run time; remove `const`, \
             or leave it out with `#[instrumented(skip)]`",
        ));
    }
    if let Some(skip) = &args.skip {
        if place == Place::Function {
            errors.push(syn::Error::new(
                skip.span(),
                "`skip` only applies to a method inside an `#[instrumented]` impl block; \
                 remove the attribute to leave this function uninstrumented",
            ));
        }
    }
    if place == Place::Function && args.plugin.is_none() && sig.receiver().is_none() {
        errors.push(syn::Error::new(
            sig.ident.span(),
            "a function without `self` must name its plugin: `#[instrumented(plugin = MyPlugin)]` \
             (inside an impl of the plugin, `plugin = Self` works)",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            v.dots,
            "a variadic function cannot be instrumented",
        ));
    }
    let arg_names: Vec<String> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(t) => match &*t.pat {
                syn::Pat::Ident(i) => Some(i.ident.to_string()),
                _ => None,
            },
            syn::FnArg::Receiver(_) => Some("self".to_owned()),
        })
        .collect();
    for field in &args.fields {
        if field.value.is_none() && !arg_names.contains(&field.name.to_string()) {
            errors.push(syn::Error::new(
                field.name.span(),
                format!(
                    "`{}` is not an argument of `{}`; record an expression instead: `fields({} = expr)`",
                    field.name, sig.ident, field.name
                ),
            ));
        }
    }
    errors.finish()
}
