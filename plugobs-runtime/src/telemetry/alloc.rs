//! Memory attribution, opt-in for the whole process: a global-allocator wrapper that
//! counts the bytes allocated and freed by each plugin's code.
//!
//! ```
//! #[global_allocator]
//! static ALLOC: plugobs_runtime::alloc::Attributed<std::alloc::System> =
//!     plugobs_runtime::alloc::Attributed::new(std::alloc::System);
//! # fn main() {}
//! ```
//!
//! While an instance's code runs on a thread — an operation call on it (a sync call, or
//! one poll of an async one), its constructor, its start, stop or health hook, or work
//! attributed to it with a [`Scope`](crate::Scope) — every allocation on that thread is
//! counted as the instance's in
//! `plugobs_plugin_allocated_bytes_total{plugin,kind,instance}` and every deallocation
//! in `plugobs_plugin_freed_bytes_total`. A reallocation counts as a free of the old size
//! and an allocation of the new one. Sizes are those requested (the `Layout`), not what
//! the allocator rounds them up to. plugobs' own memory (call sites, cells and tables
//! made on a first call) is never counted for a plugin.
//!
//! # What "freed" means
//!
//! A free is counted for whoever runs when the block is freed, not for whoever
//! allocated it: the allocator keeps no owner per block (that would cost a header on
//! every allocation of the process). So `freed_bytes_total` is the bytes the instance's
//! own code freed, and a buffer a plugin returns and the host drops is allocated by the
//! plugin and freed by the host: allocated − freed is **not** what the plugin holds,
//! and it grows with every buffer handed out, with no leak. Read the two counters as
//! rates: how much a plugin allocates per second (its pressure on the allocator), and
//! how much of that it frees itself. A plugin whose freed rate matches its allocated
//! rate frees what it allocates; a gap means memory leaves the plugin, to the host or
//! into its own state.
//!
//! Cost: an allocation outside any plugin adds a thread-local read; one inside a plugin
//! adds a relaxed atomic add on the instance's cache-padded counter (see the README for
//! measurements). The wrapper never allocates and never panics, and every plugin and
//! instance is tracked.
//!
//! This is the one module of the runtime with `unsafe` code: `GlobalAlloc` is an
//! `unsafe trait`, and its methods forward to the wrapped allocator's.

use std::alloc::{GlobalAlloc, Layout};

pub use crate::core::plugin_cells::bytes_of;
use crate::core::running;
pub use crate::core::running::installed;

/// A global allocator that forwards to `A` and attributes every allocation and
/// deallocation to the plugin running on the current thread; see the [module
/// docs](self).
#[derive(Debug, Default)]
pub struct Attributed<A> {
    inner: A,
}

impl<A> Attributed<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Attributed { inner }
    }

    #[inline(always)]
    fn mark_installed() {
        running::mark_installed();
    }
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to the wrapped allocator with the caller's own arguments,
// unchanged, so `A`'s guarantees are the wrapper's; the bookkeeping around the calls only
// reads a const thread-local (no allocation, no destructor, `try_with` so no panic during
// thread teardown) and adds to static atomics.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Attributed<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::mark_installed();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            running::count(layout.size(), 0);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::mark_installed();
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            running::count(layout.size(), 0);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (hence `inner`) returned, with
        // its layout.
        unsafe { self.inner.dealloc(ptr, layout) };
        running::count(0, layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            running::count(new_size, layout.size());
        }
        new
    }
}
