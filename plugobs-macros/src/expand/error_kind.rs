//! `#[derive(ErrorKind)]`: an enum's variants as snake_case `error_kind` labels.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, LitStr};

use crate::ast::snake_case;

pub fn entry(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let Data::Enum(data) = &input.data else {
        let span = match &input.data {
            Data::Struct(s) => s.struct_token.span,
            Data::Union(u) => u.union_token.span,
            Data::Enum(e) => e.enum_token.span,
        };
        return syn::Error::new(
            span,
            "`#[derive(ErrorKind)]` names the variants of an enum; for a struct, implement \
             `plugobs::ErrorKind` by hand and return one fixed kind",
        )
        .to_compile_error();
    };
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
        impl #impl_generics ::plugobs::__private::ErrorKind for #ident #ty_generics #where_clause {
            fn error_kind(&self) -> &'static str {
                #body
            }
        }
    }
}
