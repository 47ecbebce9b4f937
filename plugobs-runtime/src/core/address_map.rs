//! A map from addresses to small numbers that a reader queries with no lock and no
//! allocation, in a time that does not grow with the number of keys, and that never
//! answers wrong while writers change other keys: how a call finds which live value is
//! which instance ([`crate::core::bindings`]).
//!
//! **Layout.** Open addressing with linear probing over one array of `CAP` entries
//! (`CAP` a power of two), each an atomic (key, value) pair; key 0 marks an empty entry.
//! At most `CAP / 2` keys are present, so a probe always meets an empty entry and is
//! short: about 1.5 entries on a hit and 2.5 on a miss at that load, for keys that hash
//! well. The array is allocated by the first insertion (`CAP` × 16 bytes on a 64-bit
//! target), so a map never written costs its few words and nothing else.
//!
//! **Hash.** The key is an address inside an `Arc` allocation, whose 16-byte header puts
//! any two live keys at least 16 bytes apart, so `key >> 4` loses nothing; Fibonacci
//! hashing (multiply by 2⁶⁴/φ, keep the top bits) spreads the runs of equally spaced
//! addresses an allocator hands out over the whole array.
//!
//! **Removal: backward shift under a sequence lock.** Two designs keep a probe chain
//! intact when a key leaves it:
//!
//! - tombstones: the reader needs no check, but tombstones pile up under load/unload
//!   churn and lengthen every probe until a rebuild, and a rebuild either moves entries
//!   under the readers (which needs the check anyway) or swaps in a new array that can
//!   never be freed while a reader may still hold the old one (nothing here reclaims),
//!   so memory would grow with churn;
//! - backward shift (chosen): the entries after the removed one move back into the hole,
//!   in place, and every chain is as short as if the removed key had never been there;
//!   one array for the life of the map, probes that do not degrade. Moving entries could
//!   make a racing reader miss a key that moved behind it, or pair a key with the value
//!   moved in after it, so removals run under a sequence number that is odd while they
//!   move entries; a reader reads it before and after its probe and looks again if it
//!   changed.
//!
//! Insertions only fill an empty entry, and no present key's chain holds an empty entry
//! (that is what linear probing keeps), so they never disturb a reader's probe and do not
//! touch the sequence: a reader looks again only when a removal ran during its probe. Its
//! cost beyond the probe is two loads of the sequence (a line written only by removals)
//! and the array's pointer; the first load is also the "never written" fast path, as the
//! sequence stays 0 until the first insertion.

use std::sync::OnceLock;

use crate::core::sync::Ordering::{Acquire, Relaxed, Release};
use crate::core::sync::{AtomicU64, AtomicUsize, Mutex};

/// The key of an empty entry; no value lives at address 0.
const EMPTY: usize = 0;

/// One key and its value; empty when `key` is [`EMPTY`].
struct Entry {
    key: AtomicUsize,
    value: AtomicUsize,
}

/// The map is full: it holds `CAP / 2` keys already.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// Addresses (non-zero) to values, for at most `CAP / 2` keys at a time; see the module
/// documentation. A key absent from the map reads as value 0.
pub(crate) struct AddressMap<const CAP: usize> {
    /// 0 until the first insertion; then even, and odd while a removal moves entries.
    seq: AtomicU64,
    /// `CAP` entries, allocated by the first insertion.
    entries: OnceLock<Box<[Entry; CAP]>>,
    /// Serializes insertions and removals; the number of keys present.
    writers: Mutex<usize>,
}

impl<const CAP: usize> std::fmt::Debug for AddressMap<CAP> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressMap")
            .field("capacity", &CAP)
            .field("allocated", &self.entries.get().is_some())
            .finish_non_exhaustive()
    }
}

impl<const CAP: usize> Default for AddressMap<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> AddressMap<CAP> {
    const MASK: usize = {
        assert!(
            CAP.is_power_of_two() && CAP >= 2,
            "CAP: a power of two, at least 2"
        );
        CAP - 1
    };

    /// The most keys present at a time: half the entries.
    pub(crate) const LIMIT: usize = CAP / 2;

    /// An empty map; nothing allocated.
    pub(crate) fn new() -> Self {
        let _ = Self::MASK;
        AddressMap {
            seq: AtomicU64::new(0),
            entries: OnceLock::new(),
            writers: Mutex::new(0),
        }
    }

    /// The entry where a probe for `key` starts.
    #[inline(always)]
    pub(crate) fn home(key: usize) -> usize {
        let h = ((key >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // CAP ≥ 2, so the shift is below 64; the top log2(CAP) bits.
        (h >> (64 - CAP.trailing_zeros())) as usize & Self::MASK
    }

    /// The value of `key`; 0 when the map does not hold it. Lock-free and allocation-free.
    ///
    /// A key present for the whole call (inserted before it and removed after) is always
    /// found with its value, whatever insertions and removals of other keys run meanwhile.
    #[inline(always)]
    pub(crate) fn get(&self, key: usize) -> usize {
        let seq = self.seq.load(Acquire);
        if seq == 0 {
            return 0;
        }
        self.find(key, seq)
    }

    /// Out of line: a plugin without instances loaded by name never comes here, and its
    /// calls' code stays small.
    #[inline(never)]
    fn find(&self, key: usize, mut seq: u64) -> usize {
        // Allocated before `seq` left 0 (and the load above acquired that store).
        let Some(entries) = self.entries.get() else {
            return 0;
        };
        loop {
            if seq & 1 == 0 {
                let value = Self::probe(entries, key);
                // The probe's loads acquire, so this load is not done before them; if one of
                // them read a store of a removal, that removal made the sequence odd before
                // the store, so this load cannot return the `seq` read before the probe.
                if self.seq.load(Relaxed) == seq {
                    return value;
                }
            }
            spin_loop();
            seq = self.seq.load(Acquire);
        }
    }

    #[inline(always)]
    fn probe(entries: &[Entry; CAP], key: usize) -> usize {
        let mut i = Self::home(key);
        // At most CAP / 2 keys: an empty entry ends the chain within CAP / 2 + 1 steps in a
        // stable map; the bound only stops a probe that raced a removal (it looks again).
        for _ in 0..CAP {
            let entry = &entries[i];
            let k = entry.key.load(Acquire);
            // Checked first: key 0 ("no receiver") must never take an empty entry's value.
            if k == EMPTY {
                return 0;
            }
            if k == key {
                return entry.value.load(Acquire);
            }
            i = (i + 1) & Self::MASK;
        }
        0
    }

    /// Adds `key` (non-zero; 0 is ignored) with `value`. A key inserted twice is held twice:
    /// [`AddressMap::get`] finds the earlier until it is removed.
    pub(crate) fn insert(&self, key: usize, value: usize) -> Result<(), Full> {
        if key == EMPTY {
            return Ok(());
        }
        let mut len = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if *len >= Self::LIMIT {
            return Err(Full);
        }
        let entries = self
            .entries
            .get_or_init(|| Box::new(std::array::from_fn(|_| Entry::empty())));
        // Writers' own loads see every earlier writer's stores (the lock orders them).
        let mut i = Self::home(key);
        while entries[i].key.load(Relaxed) != EMPTY {
            i = (i + 1) & Self::MASK;
        }
        // The value before the key: whoever reads the key (acquire) reads the value. Both
        // release, as every store to an entry does: the entry may have been emptied by a
        // removal that a reader's probe started before, and that reader may still read the
        // key removed from it; if it then reads this value, it must also read, when it
        // checks, the sequence that removal left, and look again (loom found this one).
        entries[i].value.store(value, Release);
        entries[i].key.store(key, Release);
        *len += 1;
        if self.seq.load(Relaxed) == 0 {
            self.seq.store(2, Release);
        }
        Ok(())
    }

    /// Removes `key` (the earlier, when it was inserted twice); nothing when absent.
    pub(crate) fn remove(&self, key: usize) {
        if key == EMPTY {
            return;
        }
        let mut len = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entries) = self.entries.get() else {
            return;
        };
        let mut hole = Self::home(key);
        loop {
            match entries[hole].key.load(Relaxed) {
                EMPTY => return,
                k if k == key => break,
                _ => hole = (hole + 1) & Self::MASK,
            }
        }
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq + 1, Relaxed);
        // Every store below releases, so a reader that reads one of them then reads the odd
        // sequence, or a later one, when it checks (see `find`).
        let mut j = hole;
        loop {
            j = (j + 1) & Self::MASK;
            let k = entries[j].key.load(Relaxed);
            if k == EMPTY {
                break;
            }
            // The entry at `j` may move back to the hole only if its chain passes through the
            // hole: the hole lies in [home, j) cyclically.
            let home = Self::home(k);
            if (j.wrapping_sub(home) & Self::MASK) >= (j.wrapping_sub(hole) & Self::MASK) {
                let value = entries[j].value.load(Relaxed);
                entries[hole].value.store(value, Release);
                entries[hole].key.store(k, Release);
                hole = j;
            }
        }
        entries[hole].key.store(EMPTY, Release);
        entries[hole].value.store(0, Release);
        self.seq.store(seq + 2, Release);
        *len -= 1;
    }

    /// The number of keys present.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        *self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `key` sits, if present: for tests of probe chains.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn position(&self, key: usize) -> Option<usize> {
        let entries = self.entries.get()?;
        (0..CAP).find(|&i| entries[i].key.load(Relaxed) == key)
    }
}

impl Entry {
    fn empty() -> Entry {
        Entry {
            key: AtomicUsize::new(EMPTY),
            value: AtomicUsize::new(0),
        }
    }
}

/// Waits for a removal to finish: a spin hint, or under loom a yield so the model lets the
/// writer run.
#[inline]
fn spin_loop() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    type Small = AddressMap<16>;

    /// `n` distinct keys (addresses 16 apart, as live values' are) whose probes start at
    /// entry `home`.
    fn colliding(home: usize, n: usize) -> Vec<usize> {
        (1..)
            .map(|i| i * 16)
            .filter(|&k| Small::home(k) == home)
            .take(n)
            .collect()
    }

    #[test]
    fn nothing_is_allocated_before_the_first_insert() {
        let m = Small::new();
        assert_eq!(m.get(0x1000), 0);
        m.remove(0x1000);
        assert!(m.entries.get().is_none());
        assert_eq!(m.seq.load(Relaxed), 0, "the fast path stays on");
        m.insert(0x1000, 3).unwrap();
        assert!(m.entries.get().is_some());
        assert_eq!(m.get(0x1000), 3);
    }

    #[test]
    fn key_zero_is_never_found() {
        let m = Small::new();
        m.insert(0, 5).unwrap();
        assert_eq!(m.len(), 0);
        // Fill the entry key 0 probes first, then check it still reads as absent.
        let [k] = colliding(Small::home(0), 1)[..] else {
            unreachable!()
        };
        m.insert(k, 7).unwrap();
        assert_eq!((m.get(0), m.get(k)), (0, 7));
    }

    #[test]
    fn removing_the_middle_of_a_chain_keeps_the_rest_findable() {
        let m = Small::new();
        let keys = colliding(5, 4);
        for (v, &k) in keys.iter().enumerate() {
            m.insert(k, v + 1).unwrap();
        }
        let at: Vec<_> = keys.iter().map(|&k| m.position(k).unwrap()).collect();
        assert_eq!(at, [5, 6, 7, 8], "one chain from the shared home");
        m.remove(keys[1]);
        assert_eq!(m.get(keys[1]), 0);
        assert_eq!((m.get(keys[0]), m.get(keys[2]), m.get(keys[3])), (1, 3, 4));
        assert_eq!(m.position(keys[3]), Some(7), "the tail moved back");
        assert_eq!(m.position(keys[2]), Some(6));
    }

    #[test]
    fn a_chain_across_the_end_of_the_array() {
        let m = Small::new();
        let last = colliding(15, 3);
        let first = colliding(0, 2);
        for &k in last.iter().chain(&first) {
            m.insert(k, k).unwrap();
        }
        // 15, 0, 1 for the three of home 15; then home 0's at 2 and 3.
        assert_eq!(m.position(last[2]), Some(1));
        assert_eq!(m.position(first[1]), Some(3));
        m.remove(last[0]);
        for &k in last[1..].iter().chain(&first) {
            assert_eq!(m.get(k), k);
        }
        assert_eq!(m.position(last[1]), Some(15), "moved back across the end");
        assert_eq!(m.position(first[0]), Some(1));
    }

    #[test]
    fn a_key_moves_back_only_along_its_own_chain() {
        let m = Small::new();
        // home 3: two keys (3, 4); home 4: one key, pushed to 5.
        let three = colliding(3, 2);
        let [four] = colliding(4, 1)[..] else {
            unreachable!()
        };
        m.insert(three[0], 1).unwrap();
        m.insert(three[1], 2).unwrap();
        m.insert(four, 3).unwrap();
        assert_eq!(m.position(four), Some(5));
        m.remove(three[0]);
        assert_eq!(m.position(three[1]), Some(3));
        assert_eq!(m.position(four), Some(4));
        m.remove(three[1]);
        assert_eq!(m.position(four), Some(4), "already at its home");
        assert_eq!(m.get(four), 3);
    }

    #[test]
    fn bind_unbind_rebind_many_colliding_keys() {
        let m = AddressMap::<512>::new();
        // 256 keys, in chains of 8 sharing a home, filling the map to its limit.
        let keys: Vec<usize> = (0..32)
            .flat_map(|h| {
                (1..)
                    .map(|i| i * 16)
                    .filter(move |&k| AddressMap::<512>::home(k) == h * 16)
                    .take(8)
            })
            .collect();
        assert_eq!(keys.len(), AddressMap::<512>::LIMIT);
        for (v, &k) in keys.iter().enumerate() {
            m.insert(k, v + 1).unwrap();
        }
        assert_eq!(m.insert(0x10, 1), Err(Full));
        for round in 0..4 {
            // Remove every other key, check all, put them back with new values.
            for &k in keys.iter().skip(round % 2).step_by(2) {
                m.remove(k);
            }
            for (v, &k) in keys.iter().enumerate() {
                let expected = if v % 2 == round % 2 { 0 } else { v + 1 };
                assert_eq!(m.get(k), expected, "round {round}, key {v}");
            }
            for (v, &k) in keys.iter().enumerate().skip(round % 2).step_by(2) {
                m.insert(k, v + 1).unwrap();
            }
            for (v, &k) in keys.iter().enumerate() {
                assert_eq!(m.get(k), v + 1);
            }
        }
        assert_eq!(m.len(), AddressMap::<512>::LIMIT);
        assert_eq!(m.seq.load(Relaxed) % 2, 0);
    }

    #[test]
    fn a_key_inserted_twice_is_found_until_both_are_removed() {
        let m = Small::new();
        m.insert(0x40, 1).unwrap();
        m.insert(0x40, 2).unwrap();
        assert_eq!(m.get(0x40), 1);
        m.remove(0x40);
        assert_eq!(m.get(0x40), 2);
        m.remove(0x40);
        assert_eq!((m.get(0x40), m.len()), (0, 0));
    }

    #[test]
    fn the_limit_is_half_the_entries() {
        let m = Small::new();
        for k in 1..=8 {
            m.insert(k * 16, k).unwrap();
        }
        assert_eq!(m.insert(9 * 16, 9), Err(Full));
        m.remove(16);
        m.insert(9 * 16, 9).unwrap();
        assert_eq!((m.get(16), m.get(9 * 16)), (0, 9));
    }

    #[test]
    fn readers_racing_writers_never_miss_nor_mix() {
        // Entries only move back towards their home, so each phase starts afresh: three
        // keys the writer removes (and puts back) in front of four the reader looks up,
        // all in one chain, so every removal moves the four under the reader.
        let chain = colliding(9, 8);
        let (churn, stable, absent) = (&chain[..3], &chain[3..7], chain[7]);
        for _ in 0..300 {
            let m = Small::new();
            for &k in churn.iter().chain(stable) {
                m.insert(k, k).unwrap();
            }
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| {
                    for &k in churn {
                        m.remove(k);
                        m.insert(k, k).unwrap();
                    }
                    done.store(true, Relaxed);
                });
                loop {
                    let finished = done.load(Relaxed);
                    for &k in stable {
                        assert_eq!(m.get(k), k);
                    }
                    assert_eq!(m.get(absent), 0);
                    if finished {
                        break;
                    }
                }
            });
            let at: Vec<_> = stable.iter().map(|&k| m.position(k).unwrap()).collect();
            assert_eq!(at, [9, 10, 11, 12], "the four moved to the front");
        }
    }
}
