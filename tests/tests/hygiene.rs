//! Generated code names only `::plugobs::__private`: it compiles under `deny(warnings)`,
//! clippy pedantic (CI runs clippy with `-D warnings` on this file), inside a
//! `#![no_implicit_prelude]` module, and next to user items named `Result`, `Option`,
//! `metrics`, `tracing`, `core` and `std`-like names.
#![deny(warnings)]
#![warn(clippy::pedantic)]

#[no_implicit_prelude]
mod no_prelude {
    #[::plugobs::plugin(kind = "hygiene")]
    #[derive(::core::default::Default)]
    pub struct Bare;

    #[::plugobs::instrumented]
    impl Bare {
        // The body does not use `self`: clippy says so with or without the attribute,
        // since the body is the user's own code, unchanged.
        #[allow(clippy::unused_self)]
        pub fn add(&self, a: u32, b: u32) -> ::core::result::Result<u32, ::std::string::String> {
            ::core::result::Result::Ok(a + b)
        }

        // An `async fn` without `.await`: clippy's `unused_async` says so with or without
        // the attribute (its expansion awaits nothing either).
        #[allow(clippy::unused_async)]
        pub async fn later(&self) -> u32 {
            1
        }

        // One that awaits: its body runs in a future of its own, watched.
        pub async fn later_awaiting(&self) -> u32 {
            ::core::future::ready(1).await
        }
    }
}

mod shadowing {
    /// Shadows `std::result::Result`.
    #[allow(dead_code)]
    pub enum Result {
        Fine,
    }
    /// Shadows `std::option::Option`.
    #[allow(dead_code)]
    pub struct Option;
    /// Shadows the `metrics` crate.
    #[allow(dead_code)]
    pub mod metrics {}
    /// Shadows the `tracing` crate.
    #[allow(dead_code)]
    pub mod tracing {}
    /// Shadows `Default`.
    #[allow(dead_code)]
    pub trait Default {}

    #[plugobs::plugin(kind = "hygiene")]
    #[derive(::core::default::Default)]
    pub struct Shadowed;

    #[plugobs::instrumented]
    impl Shadowed {
        #[allow(clippy::unused_self)]
        pub fn status(&self) -> Result {
            Result::Fine
        }

        #[allow(clippy::unused_self)]
        pub fn checked(&self, n: u32) -> ::core::result::Result<u32, ::std::string::String> {
            if n > 3 {
                ::core::result::Result::Err("big".into())
            } else {
                ::core::result::Result::Ok(n)
            }
        }
    }
}

#[test]
fn hygienic_expansions_work() {
    assert_eq!(no_prelude::Bare.add(1, 2), Ok(3));
    assert_eq!(plugobs::block_on(no_prelude::Bare.later()), 1);
    assert_eq!(plugobs::block_on(no_prelude::Bare.later_awaiting()), 1);
    assert!(matches!(
        shadowing::Shadowed.status(),
        shadowing::Result::Fine
    ));
    assert_eq!(shadowing::Shadowed.checked(9), Err("big".to_owned()));
}
