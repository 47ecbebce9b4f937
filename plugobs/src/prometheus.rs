//! Prometheus glue (feature `prometheus`): a `PrometheusBuilder` preset with plugobs'
//! recommended histogram buckets, so latencies render as true Prometheus histograms.

use metrics_exporter_prometheus::{BuildError, Matcher};

/// Re-exported from `metrics-exporter-prometheus`, so a host can name the builder and the
/// handle it renders with (`PrometheusHandle::render`) without depending on that crate.
pub use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::names::{self, MetricType};

/// A `PrometheusBuilder` with the recommended buckets (see [`names`]) set for every
/// plugobs histogram. Install it as you would any builder:
///
/// ```
/// use plugobs::prometheus::PrometheusHandle;
///
/// let handle: PrometheusHandle = plugobs::prometheus::builder()
///     .unwrap()
///     .build_recorder()
///     .handle();
/// assert!(handle.render().is_empty());
/// ```
///
/// # Errors
/// Only if a bucket list were empty, which the closed list rules out.
pub fn builder() -> Result<PrometheusBuilder, BuildError> {
    with_buckets(PrometheusBuilder::new())
}

/// Adds the recommended plugobs buckets to an existing builder.
///
/// # Errors
/// Only if a bucket list were empty, which the closed list rules out.
pub fn with_buckets(mut builder: PrometheusBuilder) -> Result<PrometheusBuilder, BuildError> {
    for def in names::ALL
        .iter()
        .filter(|d| d.kind == MetricType::Histogram)
    {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(crate::bridge::full_name(def)), def.buckets)?;
    }
    Ok(builder)
}
