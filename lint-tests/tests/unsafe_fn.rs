//! `unsafe fn` under `#[instrumented]`: the strict set without `unsafe_code`, which refuses
//! the declaration itself (the library forbids it).
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
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]

/// A plugin with unsafe methods.
#[plugobs::plugin]
#[derive(Debug, Default)]
pub struct Raw;

#[plugobs::instrumented]
impl Raw {
    /// Reads through a pointer.
    ///
    /// # Safety
    /// `p` is valid for reads.
    pub unsafe fn read(&self, p: *const u32) -> u32 {
        // SAFETY: the caller's promise.
        unsafe { *p }
    }

    /// One line.
    ///
    /// # Safety
    /// `p` is valid for reads.
    #[rustfmt::skip]
    pub unsafe fn read_one_line(p: *const u32) -> u32 { unsafe { *p } }
}

#[test]
fn unsafe_methods_run() {
    let v = 5;
    // SAFETY: a valid pointer.
    assert_eq!(unsafe { Raw.read(&v) }, 5);
    // SAFETY: a valid pointer.
    assert_eq!(unsafe { Raw::read_one_line(&v) }, 5);
}
