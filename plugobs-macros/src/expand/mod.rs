//! Code generation. Runs only on validated input and cannot fail.

pub mod plugin;
