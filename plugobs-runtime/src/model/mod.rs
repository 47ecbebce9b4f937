//! The lowest layer: plain data and words. States and stages, outcomes, error types, the
//! metric names, instance names, health values, a descriptor's static data, one formatter
//! for durations and timestamps. Nothing here imports another layer.

pub mod breaker;
pub mod config;
pub mod descriptor;
pub mod discovery;
pub mod error;
pub mod exemplar;
pub mod fmt;
pub mod health;
pub mod history;
pub mod instance;
pub mod location;
pub mod name_rules;
pub mod names;
pub mod objective;
pub mod outcome;
pub mod policy;
pub mod sampling;
pub mod state;
pub mod stats;
