//! What generated code implements and calls: the [`Plugin`](crate::Plugin) trait,
//! factories and `provides`, the one call shape of every hook (`hook`: [`HookCall`],
//! driven or awaited with panics caught) and the adapters that turn a user's constructor,
//! start, stop and health functions into it (`adapters`).
//!
//! [`HookCall`]: crate::plugin::hook::HookCall

pub mod adapters;
pub mod hook;
pub mod runtime;
pub mod traits;
pub mod unregistered;
