//! Which plugin's code runs on this thread: a const thread-local set around every
//! operation call and lifecycle hook, and one cache-padded pair of byte counters per
//! plugin that [`alloc::Attributed`](crate::telemetry::alloc::Attributed) adds to. One
//! relaxed load per call while no attributing allocator is installed.

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
/// Set by the first allocation through [`Attributed`](crate::telemetry::alloc::Attributed): until then nothing is attributed
/// and entering a plugin costs one relaxed load.
pub(crate) static INSTALLED: AtomicBool = AtomicBool::new(false);

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
/// [`leave`]. One relaxed load when no [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed.
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

/// Whether an [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed (it has allocated at least once).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Bytes allocated and freed so far by the code of `descriptor`; `None` unless an
/// [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed.
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
pub(crate) fn count(allocated: usize, freed: usize) {
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
