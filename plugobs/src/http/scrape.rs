//! What the routes read — the registry the endpoints report on, and what `/metrics`
//! renders besides it — and one scrape: the format the client accepts, and the text of
//! every family in it once.

use std::sync::Arc;

use crate::exposition::{self, Format};
use crate::{Registry, RegistryStats};

/// The registry the endpoints report on: the process-wide one, or one the host owns.
///
/// Made with `From`: `&'static Registry`, `Arc<Registry>` or `Registry`.
#[derive(Clone, Debug)]
pub struct SharedRegistry(Source);

#[derive(Clone, Debug)]
enum Source {
    Global,
    Static(&'static Registry),
    Shared(Arc<Registry>),
}

impl SharedRegistry {
    /// The process-wide [`registry()`](crate::registry()).
    pub fn global() -> SharedRegistry {
        SharedRegistry(Source::Global)
    }

    /// Whether this is the process-wide registry.
    pub(crate) fn is_global(&self) -> bool {
        matches!(self.0, Source::Global)
    }

    pub(crate) fn get(&self) -> &Registry {
        match &self.0 {
            Source::Global => crate::registry(),
            Source::Static(r) => r,
            Source::Shared(r) => r,
        }
    }
}

impl From<&'static Registry> for SharedRegistry {
    fn from(r: &'static Registry) -> Self {
        SharedRegistry(Source::Static(r))
    }
}

impl From<Arc<Registry>> for SharedRegistry {
    fn from(r: Arc<Registry>) -> Self {
        SharedRegistry(Source::Shared(r))
    }
}

impl From<Registry> for SharedRegistry {
    fn from(r: Registry) -> Self {
        SharedRegistry(Source::Shared(Arc::new(r)))
    }
}

/// What the routes read: the registry, and what `/metrics` renders besides it.
#[derive(Debug)]
pub(crate) struct Scraper {
    registry: SharedRegistry,
    #[cfg(feature = "prometheus")]
    exporter: Option<crate::prometheus::PrometheusExporter>,
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    process: bool,
    /// The link to a trace, `{trace_id}` substituted (see `Endpoints::trace_link`).
    trace_link: Option<Arc<str>>,
}

impl Scraper {
    /// What the routes read, given by whoever builds them: `registry`, the host's
    /// `exporter` whose metrics `/metrics` starts with (when there is one), and whether
    /// `/metrics` includes the `process_*` families.
    pub(crate) fn new(
        registry: SharedRegistry,
        #[cfg(feature = "prometheus")] exporter: Option<crate::prometheus::PrometheusExporter>,
        process: bool,
        trace_link: Option<Arc<str>>,
    ) -> Scraper {
        Scraper {
            registry,
            #[cfg(feature = "prometheus")]
            exporter,
            process,
            trace_link,
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.registry.get()
    }

    /// The registry's stats, each exemplar with its link when a template is set.
    pub(crate) fn stats(&self) -> RegistryStats {
        let mut stats = self.registry().stats();
        if let Some(template) = &self.trace_link {
            for op in stats
                .plugins
                .iter_mut()
                .flat_map(|p| p.operations.iter_mut())
            {
                if let Some(e) = &mut op.exemplar {
                    e.link = Some(
                        template
                            .replace("{trace_id}", &e.trace_id)
                            .replace("{span_id}", &e.span_id),
                    );
                }
            }
        }
        stats
    }

    /// The format this scrape is answered in: OpenMetrics when `accept` prefers it to
    /// the Prometheus text format and nothing forces text.
    pub(crate) fn format(&self, accept: Option<&str>) -> Format {
        #[cfg(feature = "prometheus")]
        if self.exporter.is_some() {
            return Format::Prometheus;
        }
        accept.map_or(Format::Prometheus, negotiate)
    }

    /// The exposition: the host's metrics (when built from its exporter), the
    /// `process_*` families (feature `process`), then plugobs' families.
    pub(crate) fn render(&self, format: Format) -> String {
        let mut out = String::new();
        #[cfg(feature = "prometheus")]
        if let Some(exporter) = &self.exporter {
            out = exporter.handle().render();
        }
        #[cfg(feature = "process")]
        if self.process {
            super::process::render_into(format, &mut out);
        }
        exposition::render_into(self.registry(), format, &mut out);
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// Picks the format from an `Accept` header: the media range with the highest `q`
/// between `application/openmetrics-text` and `text/plain` (or `*/*`, `text/*`); the
/// Prometheus text on a tie, on anything unparsable, and when neither is named.
pub(crate) fn negotiate(accept: &str) -> Format {
    let mut openmetrics = 0.0_f32;
    let mut text = 0.0_f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
                if !(0.0..=1.0).contains(&q) {
                    q = 0.0;
                }
            }
        }
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > text {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_what_the_client_weighs_higher() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(prometheus), Format::OpenMetrics);
        assert_eq!(
            negotiate("application/openmetrics-text"),
            Format::OpenMetrics
        );
        assert_eq!(negotiate("text/plain"), Format::Prometheus);
        assert_eq!(negotiate("*/*"), Format::Prometheus);
        assert_eq!(
            negotiate("application/openmetrics-text;q=0.1, text/plain"),
            Format::Prometheus
        );
        assert_eq!(
            negotiate("application/openmetrics-text;q=abc"),
            Format::Prometheus
        );
        assert_eq!(negotiate("application/json"), Format::Prometheus);
        assert_eq!(negotiate(""), Format::Prometheus);
    }
}
