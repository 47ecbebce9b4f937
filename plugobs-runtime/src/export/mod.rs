//! The top layer below the crate root: the one walk of every series, the bridge to the
//! `metrics` facade, the Prometheus / OpenMetrics text, and `stats()` with its tables.

pub mod bridge;
pub mod exposition;
#[cfg(feature = "otel")]
pub mod otel;
pub mod stats;
pub(crate) mod walk;
