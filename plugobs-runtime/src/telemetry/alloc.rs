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
//! While an operation of a plugin runs on a thread (a sync call, or one poll of an async
//! one), and while its constructor or a start, stop or health hook runs, every allocation on that thread is
//! counted as the plugin's in `plugobs_plugin_allocated_bytes_total{plugin,kind}` and
//! every deallocation in `plugobs_plugin_freed_bytes_total` — whoever allocated the
//! memory: a buffer a plugin returns and the host frees is allocated by the plugin and
//! freed by nobody. A reallocation counts as a free of the old size and an allocation of
//! the new one. Sizes are those requested (the `Layout`), not what the allocator rounds
//! them up to.
//!
//! Cost: an allocation outside any plugin adds a thread-local read; one inside a plugin
//! adds a relaxed atomic add on the plugin's cache-padded counter (see the README for
//! measurements). The wrapper never allocates and never panics. It tracks at most
//! [`MAX_PLUGINS`] plugins; allocations of further ones are not attributed.
//!
//! This is the one module of the runtime with `unsafe` code: `GlobalAlloc` is an
//! `unsafe trait`, and its methods forward to the wrapped allocator's.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::model::descriptor::PluginDescriptor;

/// How many plugins can have their allocations attributed.
pub const MAX_PLUGINS: usize = 256;

/// One plugin's counters, on their own cache line.
#[repr(align(128))]
struct Slot {
    /// The descriptor's address; 0 while free.
    owner: AtomicUsize,
    allocated: AtomicU64,
    freed: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    owner: AtomicUsize::new(0),
    allocated: AtomicU64::new(0),
    freed: AtomicU64::new(0),
};
static SLOTS: [Slot; MAX_PLUGINS] = [FREE; MAX_PLUGINS];
/// Set by the first allocation through [`Attributed`]: until then nothing is attributed
/// and entering a plugin costs one relaxed load.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// No plugin: the value of [`CURRENT`] outside plugin code.
pub(crate) const NONE: u16 = u16::MAX;

thread_local! {
    /// The slot of the plugin whose code runs on this thread, or [`NONE`]. A `const`
    /// thread-local without a destructor: reading it never allocates.
    static CURRENT: Cell<u16> = const { Cell::new(NONE) };
}

/// The slot of `descriptor`, claimed on first use; [`NONE`] when every slot is taken.
/// Called once per call site (at resolution) and per lifecycle step, not per call.
pub(crate) fn slot_of(descriptor: &'static PluginDescriptor) -> u16 {
    let me = std::ptr::from_ref(descriptor) as usize;
    for (i, slot) in SLOTS.iter().enumerate() {
        match slot.owner.compare_exchange(0, me, Relaxed, Relaxed) {
            Ok(_) => return i as u16,
            Err(owner) if owner == me => return i as u16,
            Err(_) => continue,
        }
    }
    NONE
}

/// Marks the plugin of `slot` as running on this thread; returns what to restore with
/// [`leave`]. One relaxed load when no [`Attributed`] allocator is installed.
#[inline(always)]
pub(crate) fn enter(slot: u16) -> u16 {
    if !INSTALLED.load(Relaxed) {
        return NONE;
    }
    CURRENT.try_with(|c| c.replace(slot)).unwrap_or(NONE)
}

/// Restores what [`enter`] returned.
#[inline(always)]
pub(crate) fn leave(previous: u16) {
    if previous != NONE || INSTALLED.load(Relaxed) {
        let _ = CURRENT.try_with(|c| c.set(previous));
    }
}

/// Runs `f` as code of `descriptor` (a constructor or a hook).
pub(crate) fn within<T>(descriptor: &'static PluginDescriptor, f: impl FnOnce() -> T) -> T {
    if !installed() {
        return f();
    }
    let previous = enter(slot_of(descriptor));
    struct Restore(u16);
    impl Drop for Restore {
        fn drop(&mut self) {
            leave(self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Whether an [`Attributed`] allocator is installed (it has allocated at least once).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Bytes allocated and freed so far by the code of `descriptor`; `None` unless an
/// [`Attributed`] allocator is installed.
pub fn bytes_of(descriptor: &'static PluginDescriptor) -> Option<(u64, u64)> {
    if !installed() {
        return None;
    }
    let me = std::ptr::from_ref(descriptor) as usize;
    Some(
        SLOTS
            .iter()
            .find(|s| s.owner.load(Relaxed) == me)
            .map_or((0, 0), |s| {
                (s.allocated.load(Relaxed), s.freed.load(Relaxed))
            }),
    )
}

#[inline(always)]
fn count(allocated: usize, freed: usize) {
    let Ok(slot) = CURRENT.try_with(Cell::get) else {
        return;
    };
    if let Some(slot) = SLOTS.get(usize::from(slot)) {
        if allocated > 0 {
            slot.allocated.fetch_add(allocated as u64, Relaxed);
        }
        if freed > 0 {
            slot.freed.fetch_add(freed as u64, Relaxed);
        }
    }
}

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
        if !INSTALLED.load(Relaxed) {
            INSTALLED.store(true, Relaxed);
        }
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
            count(layout.size(), 0);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::mark_installed();
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size(), 0);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (hence `inner`) returned, with
        // its layout.
        unsafe { self.inner.dealloc(ptr, layout) };
        count(0, layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size, layout.size());
        }
        new
    }
}

pin_project_lite::pin_project! {
    /// A future whose polls run as code of a plugin: an async hook.
    pub(crate) struct Within<F> {
        descriptor: &'static PluginDescriptor,
        #[pin]
        fut: F,
    }
}

impl<F> Within<F> {
    pub(crate) fn new(descriptor: &'static PluginDescriptor, fut: F) -> Self {
        Within { descriptor, fut }
    }
}

impl<F: std::future::Future> std::future::Future for Within<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let descriptor = *this.descriptor;
        let fut = this.fut;
        within(descriptor, || fut.poll(cx))
    }
}
