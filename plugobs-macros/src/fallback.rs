//! What to emit when the input is wrong: the error, and enough of the user's item that the
//! rest of their crate still compiles, so one mistake gives one message rather than a
//! cascade (as thiserror's `fallback.rs`). Every entry point in `expand` ends in
//! `match try_expand(..) { Ok(expanded) => expanded, Err(error) => fallback::..(error, ..) }`.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::quote;
use syn::{Generics, Ident, WherePredicate};

use crate::ast::{CustomMetric, is_instrumented_attr};

/// A rejected `#[instrumented]`: the error next to the item as written, minus every
/// `#[instrumented]` attribute left in it (a repeated one on the item, the methods' own
/// on an impl block), so none of them expands and reports the same mistakes again.
pub fn instrumented(error: syn::Error, item: &syn::Item, input: TokenStream) -> TokenStream {
    let input = strip_attributes(input);
    let input = match item {
        syn::Item::Impl(_) => strip_method_attributes(input),
        _ => input,
    };
    let error = error.to_compile_error();
    quote!(#input #error)
}

/// An impl block as written, minus the methods' own `#[instrumented(...)]` attributes,
/// which mean nothing outside an instrumented impl and would add errors of their own.
/// Works on tokens, so it also serves input that does not parse.
pub fn strip_method_attributes(item: TokenStream) -> TokenStream {
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_impl = tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i == "impl"));
    if let (true, Some(TokenTree::Group(body))) = (is_impl, tokens.last_mut()) {
        if body.delimiter() == Delimiter::Brace {
            let mut stripped = Group::new(Delimiter::Brace, strip_attributes(body.stream()));
            stripped.set_span(body.span());
            *body = stripped;
        }
    }
    tokens.into_iter().collect()
}

/// `tokens` without the `#[instrumented...]` attributes at its top level.
fn strip_attributes(tokens: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let (TokenTree::Punct(pound), Some(TokenTree::Group(attr))) =
            (&tokens[i], tokens.get(i + 1))
        {
            if pound.as_char() == '#'
                && attr.delimiter() == Delimiter::Bracket
                && names_instrumented(attr.stream())
            {
                i += 2;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out.into_iter().collect()
}

/// Whether the inside of `#[...]` is `instrumented`, `a::instrumented` or either with
/// arguments.
fn names_instrumented(attr: TokenStream) -> bool {
    let attr = quote!(#[#attr]);
    let parsed = syn::Attribute::parse_outer.parse2(attr);
    matches!(parsed.as_deref(), Ok([a]) if is_instrumented_attr(a))
}

use syn::parse::Parser;

/// A rejected `#[plugin]`: the error, the item, the check of a given name (`name`), and
/// for a type an implementation of `Plugin` that is never registered, so `#[instrumented]`
/// impls and `X::DESCRIPTOR` uses of it add no errors of their own.
pub fn plugin(
    error: syn::Error,
    item: &syn::Item,
    p: &TokenStream,
    name: Option<TokenStream>,
) -> TokenStream {
    let stub = match item {
        syn::Item::Struct(s) => Some(plugin_stub(&s.ident, &s.generics, p)),
        syn::Item::Enum(e) => Some(plugin_stub(&e.ident, &e.generics, p)),
        syn::Item::Union(u) => Some(plugin_stub(&u.ident, &u.generics, p)),
        _ => None,
    };
    let error = error.to_compile_error();
    quote! {
        #item
        #stub
        #name
        #error
    }
}

fn plugin_stub(ident: &Ident, generics: &Generics, p: &TokenStream) -> TokenStream {
    let mut generics = generics.clone();
    if !generics.params.is_empty() {
        // `Plugin` needs these; on a generic type they are bounds, not checks.
        let bound: WherePredicate =
            syn::parse_quote!(Self: ::core::marker::Send + ::core::marker::Sync + 'static);
        generics.make_where_clause().predicates.push(bound);
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::Plugin for #ident #ty_generics #where_clause {
            const DESCRIPTOR: &'static #p::PluginDescriptor = &#p::UNREGISTERED;

            fn construct(
                _: #p::Option<#p::InstanceConfig>,
            ) -> #p::Result<Self, #p::HookError> {
                ::core::unreachable!()
            }
        }
    }
}

/// A rejected custom-metric call: the errors, then the call expanded as written, so the
/// code around it gets a handle of the right type and adds no errors of its own.
pub fn custom(error: syn::Error, model: &CustomMetric<'_>) -> TokenStream {
    let error = error.to_compile_error();
    let handle = crate::expand::custom::expand(model);
    quote! {
        {
            #error
            #handle
        }
    }
}

/// A rejected `derive(ErrorKind)`: the error and an implementation of `ErrorKind`, so uses
/// of the type as an error kind add no errors of their own.
pub fn error_kind(error: syn::Error, input: &syn::DeriveInput, p: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let error = error.to_compile_error();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::ErrorKind for #ident #ty_generics #where_clause {
            fn error_kind(&self) -> &'static str {
                ::core::unreachable!()
            }
        }
        #error
    }
}
