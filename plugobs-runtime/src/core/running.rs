//! Which plugin's code runs on this thread: a const thread-local set around every
//! operation call and lifecycle hook, and one cache-padded pair of byte counters per
//! plugin that [`alloc::Attributed`](crate::telemetry::alloc::Attributed) adds to. One
//! relaxed load per call while no attributing allocator is installed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// How many plugins can have their allocations attributed.
pub const MAX_PLUGINS: usize = 256;

/// One plugin's counters, on their own cache line.
#[repr(align(128))]
struct Slot {
    /// Whether a plugin holds it.
    owner: AtomicBool,
    allocated: AtomicU64,
    freed: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    owner: AtomicBool::new(false),
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

/// Claims a free slot for a new plugin ([`plugin_cells`](crate::core::plugin_cells) does,
/// once per plugin); [`NONE`] when every slot is taken.
pub(crate) fn claim_slot() -> u16 {
    for (i, slot) in SLOTS.iter().enumerate() {
        if slot
            .owner
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_ok()
        {
            return i as u16;
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

/// Whether an [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed (it has allocated at least once).
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Bytes allocated and freed so far by the code of the plugin holding `slot`; `None`
/// unless an [`Attributed`](crate::telemetry::alloc::Attributed) allocator is installed.
pub(crate) fn bytes_in(slot: u16) -> Option<(u64, u64)> {
    if !installed() {
        return None;
    }
    Some(SLOTS.get(usize::from(slot)).map_or((0, 0), |s| {
        (s.allocated.load(Relaxed), s.freed.load(Relaxed))
    }))
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
