//! A value per instance slot of one plugin, found without a lock: what an operation's
//! cells, a custom metric and a CPU counter keep for each instance loaded by name.
//!
//! Slots are below [`MAX_INSTANCE_NAMES`] (`InstanceTable::slot_for`); the table is
//! allocated in chunks of [`CHUNK`] slots on their first use, outside any plugin's scope
//! (see [`crate::core::running::outside`]), so a plugin that never loads an instance by
//! name pays one word for it.

use std::sync::OnceLock;

use crate::core::running;
use crate::model::instance::MAX_INSTANCE_NAMES;

/// Slots are allocated in chunks of this many.
pub(crate) const CHUNK: usize = 32;
type Chunk<T> = [OnceLock<T>; CHUNK];
type Chunks<T> = [OnceLock<Box<Chunk<T>>>; MAX_INSTANCE_NAMES / CHUNK];

/// One `T` per instance slot, each made on first use.
pub(crate) struct PerInstance<T> {
    chunks: OnceLock<Box<Chunks<T>>>,
}

impl<T> Default for PerInstance<T> {
    fn default() -> Self {
        PerInstance {
            chunks: OnceLock::new(),
        }
    }
}

impl<T> std::fmt::Debug for PerInstance<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerInstance")
            .field("slots", &self.iter().count())
            .finish()
    }
}

impl<T> PerInstance<T> {
    /// The value of `slot`, if it was made.
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Option<&T> {
        self.chunks.get()?.get(slot / CHUNK)?.get()?[slot % CHUNK].get()
    }

    /// The value of `slot`, made with `make` on first use; `None` for a slot out of range.
    #[inline]
    pub(crate) fn get_or_init(&self, slot: usize, make: impl FnOnce() -> T) -> Option<&T> {
        if let Some(value) = self.get(slot) {
            return Some(value);
        }
        self.init(slot, make)
    }

    #[cold]
    #[inline(never)]
    fn init(&self, slot: usize, make: impl FnOnce() -> T) -> Option<&T> {
        running::outside(|| {
            let chunks = self
                .chunks
                .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
            let chunk = chunks
                .get(slot / CHUNK)?
                .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
            Some(chunk[slot % CHUNK].get_or_init(make))
        })
    }

    /// Every value made so far, with its slot, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.chunks
            .get()
            .into_iter()
            .flat_map(|chunks| chunks.iter().enumerate())
            .filter_map(|(c, chunk)| chunk.get().map(|chunk| (c, chunk)))
            .flat_map(|(c, chunk)| {
                chunk
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, v)| v.get().map(|v| (c * CHUNK + i, v)))
            })
    }

    /// Bytes allocated for the table itself (not what its values point to).
    pub(crate) fn table_bytes(&self) -> usize {
        self.chunks.get().map_or(0, |chunks| {
            size_of::<Chunks<T>>()
                + chunks.iter().filter(|c| c.get().is_some()).count() * size_of::<Chunk<T>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_made_once_per_slot() {
        let t = PerInstance::<usize>::default();
        assert_eq!(t.get(3), None);
        assert_eq!(t.table_bytes(), 0);
        assert_eq!(t.get_or_init(3, || 30), Some(&30));
        assert_eq!(t.get_or_init(3, || 99), Some(&30));
        assert_eq!(t.get_or_init(70, || 700), Some(&700));
        assert_eq!(t.get_or_init(MAX_INSTANCE_NAMES, || 1), None);
        let all: Vec<_> = t.iter().map(|(s, v)| (s, *v)).collect();
        assert_eq!(all, [(3, 30), (70, 700)]);
        assert_eq!(
            t.table_bytes(),
            size_of::<Chunks<usize>>() + 2 * size_of::<Chunk<usize>>()
        );
    }
}
