//! Every shape plugobs' macros accept, written lint-clean, compiled with every warning
//! denied, rustc's strict lints on and `unsafe_code` forbidden: what the macros generate
//! must add no warning to a user's crate. `cargo clippy --workspace --all-targets
//! --all-features -- -D warnings` adds clippy's default set. `unsafe fn` is in
//! `tests/unsafe_fn.rs` (declaring one is what `unsafe_code` refuses).
#![deny(warnings)]
#![deny(
    unused_lifetimes,
    single_use_lifetimes,
    unused_qualifications,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    unused_results,
    elided_lifetimes_in_paths,
    trivial_casts,
    let_underscore_drop,
    rust_2018_idioms
)]
#![forbid(unsafe_code)]

pub mod hooks;
pub mod shapes;
