//! The instance bindings: how a call finds the instance it runs on.
//!
//! An instrumented method with a `&self` or `&mut self` receiver passes the address of
//! its receiver. Loading an instance by name binds the address of the constructed value
//! (it lives in the [`Loaded`](crate::Loaded) handle's allocation and does not move) to
//! the instance, in a small table per plugin; stopping or dropping the handle unbinds it.
//! A call looks its receiver up there: a plugin none of whose instances was loaded by
//! name pays one load and one branch, and a value the host built itself (or any call
//! without a receiver) is not found, so it counts under the default instance. Calls made
//! by the constructor itself, before the value has its final address, count under the
//! default instance too.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::{Mutex, OnceLock};

use crate::core::per_instance::PerInstance;
use crate::core::running::{self, Running};
use crate::model::descriptor::PluginDescriptor;
use crate::model::error::RegistryError;
use crate::model::instance::{MAX_INSTANCE_NAMES, MAX_LIVE_INSTANCES};

/// The bindings kept inline; more are allocated when needed.
const INLINE: usize = 8;

/// The address of a live instance's value and the slot of its name. Free when `key` is 0.
#[derive(Default)]
struct Binding {
    key: AtomicUsize,
    slot: AtomicUsize,
}

/// One plugin's instances, process-wide: the slot of every name it was loaded under
/// (slot 0 is the default instance), and which live value is which instance.
///
/// Operation cells are indexed by slot ([`crate::core::site`]), so two registries that load
/// an instance of one name share its operation counts, as they share a plugin's.
pub(crate) struct InstanceTable {
    descriptor: &'static PluginDescriptor,
    /// One past the highest binding ever used: calls scan below it; 0 while no instance
    /// of this plugin was ever loaded by name, which is the whole cost of a call then.
    high: AtomicUsize,
    first: [Binding; INLINE],
    more: OnceLock<Box<[Binding; MAX_LIVE_INSTANCES - INLINE]>>,
    /// Serializes binding and unbinding.
    writers: Mutex<()>,
    /// Slot → instance name; slot 0 is the plugin's name.
    names: Mutex<Vec<&'static str>>,
    /// The default instance as running code sees it.
    default: &'static Running,
    /// Every other slot's, made when the slot is claimed.
    scopes: PerInstance<&'static Running>,
}

/// The key of a receiver: its address. Generated code passes it for methods taking
/// `&self` or `&mut self`; 0 stands for "no receiver".
#[inline(always)]
pub fn key_of<T: ?Sized>(receiver: &T) -> usize {
    std::ptr::from_ref(receiver).cast::<()>() as usize
}

impl std::fmt::Debug for InstanceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceTable")
            .field("plugin", &self.descriptor.name)
            .field("high", &self.high.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl InstanceTable {
    /// The empty table of `descriptor`: only its default instance's name.
    pub(crate) fn new(descriptor: &'static PluginDescriptor) -> InstanceTable {
        InstanceTable {
            descriptor,
            high: AtomicUsize::new(0),
            first: Default::default(),
            more: OnceLock::new(),
            writers: Mutex::new(()),
            names: Mutex::new(vec![descriptor.name]),
            default: Running::leak(descriptor, 0, descriptor.name),
            scopes: PerInstance::default(),
        }
    }

    /// The instance of `slot` as running code sees it (the default instance's for a slot
    /// never claimed).
    #[inline]
    pub(crate) fn running(&self, slot: usize) -> &'static Running {
        if slot == 0 {
            return self.default;
        }
        self.scopes.get(slot).copied().unwrap_or(self.default)
    }

    /// Every instance of this plugin as running code sees it, the default one first.
    pub(crate) fn each_running(&self) -> impl Iterator<Item = &'static Running> + '_ {
        std::iter::once(self.default).chain(self.scopes.iter().map(|(_, r)| *r))
    }

    fn binding(&self, i: usize) -> Option<&Binding> {
        match i.checked_sub(INLINE) {
            None => self.first.get(i),
            Some(j) => self.more.get()?.get(j),
        }
    }

    /// The slot of the instance whose value is at `key`; 0 (the default instance) when
    /// no instance of this plugin is bound there.
    #[inline(always)]
    pub(crate) fn slot_of(&self, key: usize) -> usize {
        let high = self.high.load(Relaxed);
        if high == 0 {
            return 0;
        }
        self.scan(key, high)
    }

    #[inline]
    fn scan(&self, key: usize, high: usize) -> usize {
        // The binding was written before the handle that leads to `key` was handed out,
        // so whoever calls through that handle sees it.
        for b in self.first.iter().take(high) {
            if b.key.load(Relaxed) == key {
                return b.slot.load(Relaxed);
            }
        }
        if high > INLINE
            && let Some(more) = self.more.get()
        {
            for b in more.iter().take(high - INLINE) {
                if b.key.load(Relaxed) == key {
                    return b.slot.load(Relaxed);
                }
            }
        }
        0
    }

    /// The slot of the instance named `name`, claimed on first use.
    pub(crate) fn slot_for(&self, name: &str) -> Result<usize, RegistryError> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| *n == name) {
            return Ok(i);
        }
        if names.len() >= MAX_INSTANCE_NAMES {
            return Err(RegistryError::TooManyInstances {
                plugin: self.descriptor.name,
                limit: MAX_INSTANCE_NAMES,
                what: "names",
            });
        }
        // Bounded by MAX_INSTANCE_NAMES: a label value for the life of the process.
        let name: &'static str = running::outside(|| Box::leak(name.to_owned().into_boxed_str()));
        running::outside(|| names.push(name));
        let slot = names.len() - 1;
        let descriptor = self.descriptor;
        self.scopes
            .get_or_init(slot, || Running::leak(descriptor, slot, name));
        Ok(slot)
    }

    /// The name of `slot`.
    pub(crate) fn name(&self, slot: usize) -> &'static str {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.get(slot).copied().unwrap_or(self.descriptor.name)
    }

    /// Binds the value at `key` to `slot` until [`InstanceTable::unbind`].
    pub(crate) fn bind(&self, key: usize, slot: usize) -> Result<(), RegistryError> {
        // From now on calls say which instance runs, for its own metrics and bytes.
        running::activate();
        let _writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        let high = self.high.load(Relaxed);
        let free = (0..high).find(|&i| self.binding(i).is_some_and(|b| b.key.load(Relaxed) == 0));
        let i = match free {
            Some(i) => i,
            None if high < MAX_LIVE_INSTANCES => high,
            None => {
                return Err(RegistryError::TooManyInstances {
                    plugin: self.descriptor.name,
                    limit: MAX_LIVE_INSTANCES,
                    what: "live instances",
                });
            }
        };
        if i >= INLINE {
            running::outside(|| {
                self.more
                    .get_or_init(|| Box::new(std::array::from_fn(|_| Binding::default())))
            });
        }
        if let Some(b) = self.binding(i) {
            b.slot.store(slot, Relaxed);
            b.key.store(key, Release);
        }
        if i == high {
            self.high.store(high + 1, Release);
        }
        Ok(())
    }

    /// Unbinds the value at `key`: calls on it count under the default instance again.
    pub(crate) fn unbind(&self, key: usize) {
        let _writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        let high = self.high.load(Relaxed);
        for i in 0..high {
            if let Some(b) = self.binding(i)
                && b.key.load(Relaxed) == key
            {
                b.key.store(0, Relaxed);
                b.slot.store(0, Relaxed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_finds_its_bound_instance() {
        static D: PluginDescriptor = PluginDescriptor {
            name: "table_test",
            kind: "test",
            version: "0",
            description: "",
            type_name: "t",
            location: crate::SourceLocation {
                module_path: "m",
                file: "f",
                line: 1,
            },
            provides: &[],
            has_stop: false,
            objective: crate::model::objective::Objective::NONE,
            upcalls: &crate::__private::UPCALLS,
        };
        let t = &crate::core::plugin_cells::of(&D).instances;
        assert!(std::ptr::eq(
            t,
            &crate::core::plugin_cells::of(&D).instances
        ));
        assert_eq!(t.slot_of(0x1000), 0);
        let a = t.slot_for("a").unwrap();
        let b = t.slot_for("b").unwrap();
        assert_eq!((a, b, t.slot_for("a").unwrap()), (1, 2, 1));
        assert_eq!((t.name(0), t.name(1), t.name(2)), ("table_test", "a", "b"));
        for i in 0..20 {
            t.bind(0x1000 + i * 16, if i % 2 == 0 { a } else { b })
                .unwrap();
        }
        assert_eq!(t.slot_of(0x1000), a);
        assert_eq!(t.slot_of(0x1010), b);
        assert_eq!(t.slot_of(0x1000 + 19 * 16), b);
        assert_eq!(t.slot_of(0x9999), 0);
        t.unbind(0x1010);
        assert_eq!(t.slot_of(0x1010), 0);
        t.bind(0x2000, a).unwrap();
        assert_eq!(t.slot_of(0x2000), a);
        assert_eq!(t.high.load(Relaxed), 20, "the freed binding was reused");
    }
}
