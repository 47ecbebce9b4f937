//! What every `#[instrumented]` function does, written once: generated code calls these
//! generic functions, so each expansion carries only what depends on its own function.

/// Runs an instrumented function's body.
///
/// The body is passed as a closure so that `return` and `?` in it end the body, not the
/// function, and the outcome is still recorded. `FnOnce` matters: a closure checked as
/// `FnOnce` may return borrows of what it captured (`&mut self.field`), which an `FnMut`
/// closure may not.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}
