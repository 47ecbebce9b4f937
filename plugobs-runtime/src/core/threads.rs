//! Thread indices: each live thread that records has a small index of its own, which
//! selects its single-writer shard in every operation. An exiting thread gives its index
//! back and a later thread adopts it — and with it the exited thread's shards, totals
//! kept — so a process that keeps creating threads (blocking pools, scoped threads) keeps
//! fast single-writer shards and memory bounded by its live threads, not by every thread
//! it ever started.
//!
//! The hand-over goes through a mutex: the exiting thread's last plain stores to its
//! shards happen before it releases the lock, the adopting thread's first loads after it
//! takes it, so no count is lost (modelled with loom in `loom_tests.rs`).

use crate::core::sync::{AtomicUsize, Mutex, Ordering::Relaxed};

/// Hands out indices, smallest free first.
pub(crate) struct IndexPool {
    next: AtomicUsize,
    free: Mutex<Vec<usize>>,
}

impl IndexPool {
    /// An empty pool.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        IndexPool {
            next: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
        }
    }

    /// An empty pool.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        IndexPool {
            next: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
        }
    }

    /// Takes an index: a returned one if any (the smallest), else a new one.
    pub(crate) fn acquire(&self) -> usize {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        match free.pop() {
            Some(index) => index,
            None => self.next.fetch_add(1, Relaxed),
        }
    }

    /// Gives an index back.
    pub(crate) fn release(&self, index: usize) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        // Kept sorted high to low, so `pop` hands out the smallest free index and live
        // indices stay dense (below the exclusive-shard limit).
        let at = free.partition_point(|&i| i > index);
        free.insert(at, index);
    }
}

/// The index meaning "no index of its own": a thread whose thread-local storage is being
/// torn down records into the shared, atomic shards.
pub(crate) const NO_INDEX: usize = usize::MAX;

#[cfg(not(loom))]
mod current {
    use super::{IndexPool, NO_INDEX};
    use std::cell::Cell;

    static POOL: IndexPool = IndexPool::new();

    thread_local! {
        /// This thread's index: a `const` thread-local without a destructor, so reading
        /// it is one load, with no check of the thread-local's state.
        static INDEX: Cell<usize> = const { Cell::new(NO_INDEX) };
        /// Registered on the first take: its destructor gives the index back.
        static GIVE_BACK: GiveBack = const { GiveBack };
    }

    struct GiveBack;

    impl Drop for GiveBack {
        fn drop(&mut self) {
            let index = INDEX.with(|i| i.replace(NO_INDEX));
            if index != NO_INDEX {
                POOL.release(index);
            }
        }
    }

    /// This thread's index, taken on first use and given back when the thread exits.
    #[inline(always)]
    pub(crate) fn index() -> usize {
        match INDEX.with(Cell::get) {
            NO_INDEX => take(),
            index => index,
        }
    }

    #[cold]
    #[inline(never)]
    fn take() -> usize {
        // A thread past its destructors (it gave its index back) records into the shared
        // shards: an index taken now would never be given back.
        if GIVE_BACK.try_with(|_| ()).is_err() {
            return NO_INDEX;
        }
        let index = POOL.acquire();
        INDEX.with(|i| i.set(index));
        index
    }
}

#[cfg(loom)]
mod current {
    /// Under loom, instrumented calls record into the shared shards.
    pub(crate) fn index() -> usize {
        super::NO_INDEX
    }
}

pub(crate) use current::index;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn smallest_free_index_first() {
        let pool = IndexPool::new();
        let [a, b, c] = [pool.acquire(), pool.acquire(), pool.acquire()];
        assert_eq!([a, b, c], [0, 1, 2]);
        pool.release(2);
        pool.release(0);
        assert_eq!(pool.acquire(), 0);
        assert_eq!(pool.acquire(), 2);
        assert_eq!(pool.acquire(), 3);
    }

    #[test]
    fn exited_threads_give_their_index_back() {
        let first = std::thread::spawn(index).join().unwrap();
        let second = std::thread::spawn(index).join().unwrap();
        // Other tests run in parallel, so the same index is not guaranteed; but indices
        // stay small instead of growing with every thread.
        assert!(first < 64 && second < 64, "{first} {second}");
    }
}
