//! `#[derive(ErrorKind)]`: an enum's variants as snake_case `error_kind` labels.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitStr};

use crate::args::{helper_crate, private_path};
use crate::ast::{ErrorKindEnum, snake_case};
use crate::errors::Errors;
use crate::fallback;

/// Entry point: parse -> model -> expand.
pub fn entry(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let p = private_path(helper_crate(&input.attrs, &mut errors).as_ref());
    match try_expand(&input, &p, errors) {
        Ok(expanded) => expanded,
        Err(error) => fallback::error_kind(error, &input, &p),
    }
}

/// `errors`: those of the helper attributes, reported with the item's own.
fn try_expand(input: &DeriveInput, p: &TokenStream, errors: Errors) -> syn::Result<TokenStream> {
    let model = match ErrorKindEnum::from_syn(input) {
        Ok(model) => model,
        Err(e) => return Err(errors.into_error_with(e)),
    };
    errors.finish()?;
    Ok(expand(&model, p))
}

fn expand(model: &ErrorKindEnum<'_>, p: &TokenStream) -> TokenStream {
    let (input, data) = (model.input, model.data);
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
