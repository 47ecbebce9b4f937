//! A plugin's own telemetry that is not on the hot path: the allocator that attributes
//! bytes to the running plugin, and utilization over a window. (The cells a plugin's own
//! metrics and CPU time are recorded into are per-plugin hot-path state, in
//! [`core`](crate::core).)

pub mod alloc;
pub mod busy;
pub mod custom;
pub mod scope;
