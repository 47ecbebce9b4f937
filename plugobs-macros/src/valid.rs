//! Every cross-check, with all errors collected and spanned on the offending token.

use syn::{LitStr, Type};

use crate::args::PluginArgs;
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
            errors.push(syn::Error::new(lit.span(), format!("`{key}` cannot be empty")));
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
        if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
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
