//! The hot path: the atomics it uses, thread indices, the sharded cells and the latency
//! histogram, operation call sites, the bindings that find a call's instance, and one
//! operation's snapshot. Imports only [`model`](crate::model).

pub(crate) mod address_map;
pub mod bindings;
pub mod breaker;
pub mod call;
pub mod cells;
pub mod cpu;
pub mod custom;
pub mod custom_site;
#[cfg(feature = "exemplars")]
pub(crate) mod exemplar;
pub(crate) mod per_instance;
pub(crate) mod plugin_cells;
pub mod returned;
pub(crate) mod running;
pub mod runtime_site;
pub(crate) mod sampling;
pub mod site;
pub mod snapshot;
pub(crate) mod sync;
pub(crate) mod threads;
