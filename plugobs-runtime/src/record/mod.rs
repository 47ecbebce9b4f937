//! One plugin instance's live record, and what it keeps over time: its health state.

pub mod health;
pub mod history;
pub mod plugin_record;
pub mod timeline;
