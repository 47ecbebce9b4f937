//! A plugin's own telemetry: its custom metrics, CPU time and allocation attribution, and
//! utilization over a window.

pub mod alloc;
pub mod busy;
pub mod cpu;
pub mod custom;
