//! Which instance's code runs on this thread: a const thread-local set around every
//! operation call, lifecycle hook and attribution scope, pointing at that instance's
//! [`Running`] — its identity and the cache-padded pair of byte counters that
//! [`alloc::Attributed`](crate::telemetry::alloc::Attributed) adds to. A plugin's own
//! metrics and CPU time read it to find their instance.
//!
//! While nothing needs it — no attributing allocator installed, no instance loaded by
//! name, no attribution scope ever entered — entering a call costs one relaxed load and
//! the thread-local is not touched.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::model::descriptor::PluginDescriptor;

/// One instance of a plugin as the code running on a thread sees it: who it is, and the
/// bytes its code allocated and freed. One per (plugin, instance name), leaked: it lives
/// as long as the name's slot (the process).
#[repr(align(128))]
pub struct Running {
    pub(crate) descriptor: &'static PluginDescriptor,
    /// The instance's slot in its plugin's table (0: the default instance).
    pub(crate) slot: usize,
    /// The instance's name (the plugin's name for slot 0).
    pub(crate) name: &'static str,
    allocated: AtomicU64,
    freed: AtomicU64,
    /// Thread CPU nanoseconds of work attributed to the instance off its calls
    /// (`Scope::with_cpu`).
    pub(crate) background_cpu: AtomicU64,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("plugin", &self.descriptor.name)
            .field("instance", &self.name)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// A new instance's counters; allocated outside any plugin's scope.
    pub(crate) fn leak(
        descriptor: &'static PluginDescriptor,
        slot: usize,
        name: &'static str,
    ) -> &'static Running {
        outside(|| {
            Box::leak(Box::new(Running {
                descriptor,
                slot,
                name,
                allocated: AtomicU64::new(0),
                freed: AtomicU64::new(0),
                background_cpu: AtomicU64::new(0),
            }))
        })
    }

    /// Bytes allocated and freed so far by this instance's code; `None` unless an
    /// [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed.
    pub(crate) fn bytes(&self) -> Option<(u64, u64)> {
        installed().then(|| (self.allocated.load(Relaxed), self.freed.load(Relaxed)))
    }

    /// Thread CPU nanoseconds of work attributed with CPU measured; `None` while there
    /// was none.
    pub(crate) fn background_cpu(&self) -> Option<u64> {
        Some(self.background_cpu.load(Relaxed)).filter(|&n| n > 0)
    }
}

/// Set by the first allocation through [`Attributed`](crate::telemetry::alloc::Attributed).
pub(crate) static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Set once anything needs to know which instance runs: an attributing allocator, an
/// instance loaded by name, an attribution scope. Until then calls leave [`CURRENT`]
/// alone.
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The instance whose code runs on this thread, if any. A `const` thread-local
    /// without a destructor: reading it never allocates.
    static CURRENT: Cell<Option<&'static Running>> = const { Cell::new(None) };
}

/// From now on, calls record which instance runs (see [`ACTIVE`]).
#[inline]
pub(crate) fn activate() {
    if !ACTIVE.load(Relaxed) {
        ACTIVE.store(true, Relaxed);
    }
}

/// Whether calls record which instance runs (see [`ACTIVE`]).
#[inline(always)]
pub(crate) fn active() -> bool {
    ACTIVE.load(Relaxed)
}

/// Marks the allocator as installed (and calls as needing to say who runs).
#[inline(always)]
pub(crate) fn mark_installed() {
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
        ACTIVE.store(true, Relaxed);
    }
}

/// What [`enter_with`] returns, to give to [`leave`].
pub(crate) type Previous = Option<&'static Running>;

/// Marks the instance `running` gives as the one running on this thread; returns what to
/// restore with [`leave`]. One relaxed load, and `running` is not called, while nothing
/// needs it.
#[inline(always)]
pub(crate) fn enter_with(running: impl FnOnce() -> &'static Running) -> Previous {
    if !ACTIVE.load(Relaxed) {
        return None;
    }
    CURRENT
        .try_with(|c| c.replace(Some(running())))
        .unwrap_or(None)
}

/// Marks `running` as running on this thread whatever [`ACTIVE`] says (a scope entered
/// by hand, a lifecycle hook): activates first.
#[inline]
pub(crate) fn enter_always(running: &'static Running) -> Previous {
    activate();
    CURRENT
        .try_with(|c| c.replace(Some(running)))
        .unwrap_or(None)
}

/// Restores what [`enter_with`] returned.
#[inline(always)]
pub(crate) fn leave(previous: Previous) {
    if previous.is_some() || ACTIVE.load(Relaxed) {
        let _ = CURRENT.try_with(|c| c.set(previous));
    }
}

/// The instance whose code runs on this thread, if any.
#[inline(always)]
pub(crate) fn current() -> Option<&'static Running> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// The instance of `descriptor` running on this thread, if one of its instances loaded by
/// name is (`None` for its default instance, or another plugin's code, or none).
#[inline(always)]
pub(crate) fn current_instance_of(
    descriptor: &'static PluginDescriptor,
) -> Option<&'static Running> {
    current().filter(|r| r.slot != 0 && std::ptr::eq(r.descriptor, descriptor))
}

/// Runs `f` as nobody's code: plugobs' own allocations (call sites, cells, tables made on
/// first use) never count for the plugin that happened to be running.
#[inline]
pub(crate) fn outside<T>(f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.try_with(|c| c.replace(None)).unwrap_or(None);
    if previous.is_none() {
        return f();
    }
    struct Restore(Previous);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Whether an [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed (it has allocated at least once).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Counts an allocation or a free for the instance running on this thread.
#[inline(always)]
pub(crate) fn count(allocated: usize, freed: usize) {
    let Ok(Some(running)) = CURRENT.try_with(Cell::get) else {
        return;
    };
    if allocated > 0 {
        running.allocated.fetch_add(allocated as u64, Relaxed);
    }
    if freed > 0 {
        running.freed.fetch_add(freed as u64, Relaxed);
    }
}
