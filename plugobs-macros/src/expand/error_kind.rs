//! `#[derive(ErrorKind)]`: an enum's variants as snake_case `error_kind` labels.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, LitStr};

use crate::args::{helper_crate, private_path};
use crate::ast::snake_case;
use crate::errors::Errors;
use crate::fallback;

/// Entry point: parse -> validate -> expand.
pub fn entry(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let p = private_path(helper_crate(&input.attrs, &mut errors).as_ref());
    let data = match &input.data {
        Data::Enum(data) => Some(data),
        Data::Struct(s) => {
            errors.push(not_an_enum(s.struct_token.span, "a struct"));
            None
        }
        Data::Union(u) => {
            errors.push(not_an_enum(u.union_token.span, "a union"));
            None
        }
    };
    match (errors.into_error(), data) {
        (None, Some(data)) => expand(&input, data, &p),
        (Some(e), _) => fallback::error_kind(e, &input, &p),
        (None, None) => TokenStream::new(),
    }
}

fn not_an_enum(span: proc_macro2::Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`#[derive(ErrorKind)]` names the variants of an enum, and this is {what}; \
             implement `plugobs::ErrorKind` by hand and return one fixed kind, e.g. \
             `fn error_kind(&self) -> &'static str {{ \"timeout\" }}`"
        ),
    )
}

fn expand(input: &DeriveInput, data: &syn::DataEnum, p: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let arms = data.variants.iter().map(|v| {
        let name = &v.ident;
        let label = LitStr::new(&snake_case(&name.to_string()), name.span());
        quote!(Self::#name { .. } => #label)
    });
    let body = if data.variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#arms,)* })
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::ErrorKind for #ident #ty_generics #where_clause {
            fn error_kind(&self) -> &'static str {
                #body
            }
        }
    }
}
