//! Code generation. Runs only on validated input and cannot fail.

pub mod custom;
pub mod error_kind;
pub mod instrumented;
pub mod plugin;
