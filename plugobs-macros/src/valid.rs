//! Every cross-check, with all errors collected and spanned on the offending token.

use syn::{LitStr, Type};

use crate::args::{Place, PluginArgs};
use crate::ast::{ErrOption, Function, InstrumentedFn, InstrumentedImpl, PluginStruct, Target};
use crate::asyncness::Shape;
use crate::errors::Errors;

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

pub fn plugin(args: &PluginArgs, item: &PluginStruct<'_>, errors: &mut Errors) {
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
    non_empty(errors, args.name.as_ref(), "name");
    non_empty(errors, args.kind.as_ref(), "kind");
    non_empty(errors, args.version.as_ref(), "version");
    for ty in &args.provides {
        if !matches!(ty, Type::TraitObject(t) if t.dyn_token.is_some()) {
            errors.push(syn::Error::new_spanned(
                ty,
                "`provides` takes trait object types: `provides = dyn Sink` or `provides = [dyn Sink, dyn Source]`",
            ));
        }
    }
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

/// Every check on an instrumented impl block and its methods.
pub fn instrumented_impl(model: &InstrumentedImpl<'_>, errors: &mut Errors) {
    for attr in &model.repeated {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[instrumented]` is given twice on this method; keep one",
        ));
    }
    for (_, f) in &model.methods {
        function(f, &model.target, errors);
    }
}

/// Every check on an instrumented free function.
pub fn instrumented_fn(model: &InstrumentedFn<'_>, errors: &mut Errors) {
    function(&model.function, &model.target, errors);
}

/// Every check on one function.
fn function(f: &Function<'_>, target: &Target<'_>, errors: &mut Errors) {
    let sig = f.sig;
    if let Some(skip) = &f.skip {
        if f.place == Place::Function {
            errors.push(syn::Error::new(
                skip.span(),
                "`skip` only applies to a method inside an `#[instrumented]` impl block; \
                 remove the attribute to leave this function uninstrumented",
            ));
        }
        return;
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "a `const fn` cannot be instrumented: timing it needs a clock at run time; remove `const`, \
             or leave it out with `#[instrumented(skip)]`",
        ));
    }
    if f.place == Place::Function && target.plugin.is_none() && sig.receiver().is_none() {
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
    if let ErrOption::OnFunction(err) = &f.err {
        if !f.returns_result() {
            let what = match f.shape {
                Shape::Sync => format!("`{}` does not return", sig.ident),
                Shape::AsyncFn | Shape::TailAsync | Shape::ReturnedFuture { .. } => {
                    format!("the future of `{}` does not resolve to", sig.ident)
                }
            };
            errors.push(syn::Error::new(
                err.span(),
                format!(
                    "`err` reports the `Err` of a `Result`, but {what} a `Result`; remove \
                     `err` here, or return `Result<T, E>` with `E: Display`"
                ),
            ));
        }
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
    for field in &f.fields {
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
}
