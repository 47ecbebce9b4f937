//! Prometheus (feature `prometheus`): one `render()` with your metrics and plugobs'.
//!
//! [`install`] installs a metrics-exporter-prometheus recorder as the global `metrics`
//! recorder, for your own `counter!`/`histogram!` calls, and returns a
//! [`PrometheusExporter`] whose [`render`](PrometheusExporter::render) appends plugobs'
//! families to the recorder's output, rendered straight from plugobs' aggregates: exact
//! counts, exact cumulative buckets, nothing stored per call, a cost per series. The
//! bridge then publishes nothing to that recorder, so nothing appears twice, and the
//! background flush has nothing to do.
//!
//! ```
//! let exporter = plugobs::prometheus::install().unwrap();
//! let text = exporter.render();
//! assert!(text.contains("# TYPE plugobs_plugins gauge"));
//! ```
//!
//! Installing the recorder yourself (`builder()?.install_recorder()`) still works: plugobs'
//! families then reach it through the bridge, every second, as cumulative bucket counters
//! (see [`bridge::HistogramMode`](crate::bridge::HistogramMode)).

use metrics_exporter_prometheus::Matcher;
/// Re-exported from `metrics-exporter-prometheus`, so a host can name the builder, the
/// handle and the error without depending on that crate.
pub use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use crate::exposition::{self, Format};
use crate::names::{self, MetricType};

/// A `PrometheusBuilder` with the recommended buckets (see [`names`]) set for every
/// plugobs histogram, for hosts that install the recorder themselves.
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
        builder = builder.set_buckets_for_metric(
            Matcher::Full(plugobs_runtime::__private::full_name(def)),
            def.buckets,
        )?;
    }
    Ok(builder)
}

/// Installs a Prometheus recorder built by [`builder`] as the global `metrics` recorder;
/// see [`install_with`].
///
/// # Errors
/// [`BuildError::FailedToSetGlobalRecorder`] when a global recorder is already installed.
pub fn install() -> Result<PrometheusExporter, BuildError> {
    install_with(builder()?)
}

/// Installs the recorder `builder` builds as the global `metrics` recorder and returns a
/// [`PrometheusExporter`] that renders it together with plugobs' families. No HTTP
/// listener is started: serve [`PrometheusExporter::render`] from your own server.
///
/// # Errors
/// [`BuildError::FailedToSetGlobalRecorder`] when a global recorder is already installed.
pub fn install_with(builder: PrometheusBuilder) -> Result<PrometheusExporter, BuildError> {
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(BuildError::FailedToSetGlobalRecorder)?;
    plugobs_runtime::__private::render_global_recorder_directly();
    Ok(PrometheusExporter { handle })
}

/// The installed Prometheus recorder's handle, rendering plugobs' families with it.
#[derive(Clone, Debug)]
pub struct PrometheusExporter {
    handle: PrometheusHandle,
}

impl PrometheusExporter {
    /// Your metrics (from the recorder) followed by plugobs' families, in the Prometheus
    /// text format.
    pub fn render(&self) -> String {
        let mut out = self.handle.render();
        exposition::render_into(crate::registry(), Format::Prometheus, &mut out);
        out
    }

    /// The recorder's handle, e.g. for [`PrometheusHandle::run_upkeep`] (which drains the
    /// recorder's own histograms; plugobs stores nothing in it).
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }
}
