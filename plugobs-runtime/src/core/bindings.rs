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
//!
//! The table is an [`AddressMap`]: a hash of the address and a probe of one or two
//! entries, so a call costs the same on any of a plugin's [`MAX_LIVE_INSTANCES`] live
//! instances; it is allocated by the plugin's first load by name, [`BINDINGS`] entries of
//! 16 bytes (8 KiB on a 64-bit target), and a plugin never loaded by name has none.

use std::sync::Mutex;

use crate::core::address_map::{AddressMap, Full};
use crate::core::per_instance::PerInstance;
use crate::core::running::{self, Running};
use crate::model::descriptor::PluginDescriptor;
use crate::model::error::RegistryError;
use crate::model::instance::{MAX_INSTANCE_NAMES, MAX_LIVE_INSTANCES};

/// Entries of a plugin's binding table: twice the live instances it can hold, so that
/// probes stay short at the limit.
pub(crate) const BINDINGS: usize = 2 * MAX_LIVE_INSTANCES;

const _: () = assert!(AddressMap::<BINDINGS>::LIMIT == MAX_LIVE_INSTANCES);

/// One plugin's instances, process-wide: the slot of every name it was loaded under
/// (slot 0 is the default instance), and which live value is which instance.
///
/// Operation cells are indexed by slot ([`crate::core::site`]), so two registries that load
/// an instance of one name share its operation counts, as they share a plugin's.
pub(crate) struct InstanceTable {
    descriptor: &'static PluginDescriptor,
    /// Address of a live value → slot of its instance; empty, and unallocated, while no
    /// instance of this plugin was ever loaded by name, and reading it then is the whole
    /// cost of a call's lookup: one load and one branch.
    bindings: AddressMap<BINDINGS>,
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
            .field("bindings", &self.bindings)
            .finish_non_exhaustive()
    }
}

impl InstanceTable {
    /// The empty table of `descriptor`: only its default instance's name.
    pub(crate) fn new(descriptor: &'static PluginDescriptor) -> InstanceTable {
        InstanceTable {
            descriptor,
            bindings: AddressMap::new(),
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

    /// The slot of the instance whose value is at `key`; 0 (the default instance) when
    /// no instance of this plugin is bound there.
    #[inline(always)]
    pub(crate) fn slot_of(&self, key: usize) -> usize {
        // The binding was written before the handle that leads to `key` was handed out,
        // so whoever calls through that handle finds it; binding and unbinding other
        // values meanwhile never hides it (see `AddressMap`).
        self.bindings.get(key)
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
        // The first binding allocates the table: not the running instance's bytes.
        running::outside(|| self.bindings.insert(key, slot)).map_err(|Full| {
            RegistryError::TooManyInstances {
                plugin: self.descriptor.name,
                limit: MAX_LIVE_INSTANCES,
                what: "live instances",
            }
        })
    }

    /// Unbinds the value at `key`: calls on it count under the default instance again.
    pub(crate) fn unbind(&self, key: usize) {
        self.bindings.remove(key);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A descriptor of its own for each test, so that each has its own table.
    macro_rules! descriptor {
        ($name:literal) => {{
            static D: PluginDescriptor = PluginDescriptor {
                name: $name,
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
            &D
        }};
    }

    /// `n` addresses 16 bytes apart (as live values are, at least) whose lookups all
    /// start at the same entry of the table.
    fn colliding(n: usize) -> Vec<usize> {
        let home = AddressMap::<BINDINGS>::home(0x10_0000);
        (0x10_0000..)
            .step_by(16)
            .filter(|&k| AddressMap::<BINDINGS>::home(k) == home)
            .take(n)
            .collect()
    }

    #[test]
    fn a_call_finds_its_bound_instance() {
        let d = descriptor!("table_test");
        let t = &crate::core::plugin_cells::of(d).instances;
        assert!(std::ptr::eq(t, &crate::core::plugin_cells::of(d).instances));
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
        assert_eq!(t.slot_of(0), 0, "no receiver: the default instance");
        t.unbind(0x1010);
        assert_eq!(t.slot_of(0x1010), 0);
        t.bind(0x2000, a).unwrap();
        assert_eq!(t.slot_of(0x2000), a);
        assert_eq!(t.bindings.len(), 20);
    }

    #[test]
    fn nothing_is_allocated_until_the_first_binding() {
        let t = InstanceTable::new(descriptor!("unbound_test"));
        t.slot_for("a").unwrap();
        t.unbind(0x1000);
        assert_eq!(t.slot_of(0x1000), 0);
        assert!(format!("{t:?}").contains("allocated: false"), "{t:?}");
        t.bind(0x1000, 1).unwrap();
        assert!(format!("{t:?}").contains("allocated: true"), "{t:?}");
    }

    #[test]
    fn bind_unbind_rebind_many_colliding_keys() {
        let t = InstanceTable::new(descriptor!("colliding_test"));
        let slots: Vec<usize> = (0..40)
            .map(|i| t.slot_for(&format!("i{i}")).unwrap())
            .collect();
        // 40 values in one probe chain, then churn: unbind a third, rebind them elsewhere
        // in the chain with other slots, and check every one each time.
        let keys = colliding(40);
        let mut bound: Vec<(usize, usize)> = keys.iter().copied().zip(slots.clone()).collect();
        for &(k, s) in &bound {
            t.bind(k, s).unwrap();
        }
        for round in 0..6 {
            for (i, b) in bound.iter_mut().enumerate() {
                if (i + round) % 3 == 0 {
                    t.unbind(b.0);
                    assert_eq!(t.slot_of(b.0), 0);
                    b.1 = slots[(i + round + 1) % slots.len()];
                }
            }
            for (i, &(k, s)) in bound.iter().enumerate() {
                if (i + round) % 3 == 0 {
                    t.bind(k, s).unwrap();
                }
            }
            for &(k, s) in &bound {
                assert_eq!(t.slot_of(k), s, "round {round}");
            }
        }
        assert_eq!(t.bindings.len(), 40);
    }

    #[test]
    fn unbinding_the_middle_of_a_probe_chain_keeps_the_others_found() {
        let t = InstanceTable::new(descriptor!("chain_test"));
        let keys = colliding(9);
        for (i, &k) in keys.iter().enumerate() {
            t.bind(k, i + 1).unwrap();
        }
        let mut unbound = Vec::new();
        for middle in [4, 1, 7] {
            t.unbind(keys[middle]);
            unbound.push(middle);
            for (i, &k) in keys.iter().enumerate() {
                let expected = if unbound.contains(&i) { 0 } else { i + 1 };
                assert_eq!(t.slot_of(k), expected, "after unbinding {middle}: key {i}");
            }
        }
    }

    #[test]
    fn at_most_max_live_instances_are_bound() {
        let t = InstanceTable::new(descriptor!("limit_test"));
        let slot = t.slot_for("a").unwrap();
        let keys: Vec<usize> = (0..MAX_LIVE_INSTANCES).map(|i| 0x8000 + i * 48).collect();
        for &k in &keys {
            t.bind(k, slot).unwrap();
        }
        let e = t.bind(0x10, slot).unwrap_err();
        assert!(
            matches!(
                e,
                RegistryError::TooManyInstances {
                    plugin: "limit_test",
                    limit: MAX_LIVE_INSTANCES,
                    what: "live instances",
                }
            ),
            "{e:?}"
        );
        assert_eq!(t.slot_of(0x10), 0);
        for &k in &keys {
            assert_eq!(t.slot_of(k), slot);
        }
        t.unbind(keys[100]);
        t.bind(0x10, slot).unwrap();
        assert_eq!((t.slot_of(0x10), t.slot_of(keys[100])), (slot, 0));
    }
}
