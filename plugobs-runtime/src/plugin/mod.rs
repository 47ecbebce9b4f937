//! What generated code implements and calls: the [`Plugin`](crate::Plugin) trait,
//! factories and `provides`, and the hook adapters that turn a user's constructor, start,
//! stop and health functions (sync or async) into one call shape.

pub mod health_hook;
pub mod hook;
pub mod signature;
pub mod traits;
pub mod unregistered;
