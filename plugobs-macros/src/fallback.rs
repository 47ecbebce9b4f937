//! What to emit when the input is wrong: the error, and the user's item unchanged, so one
//! mistake gives one message rather than a cascade of "cannot find type" errors.

use proc_macro2::TokenStream;
use quote::quote;

pub fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}
