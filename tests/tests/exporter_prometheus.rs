//! The bridge through metrics-exporter-prometheus installed as the global recorder with
//! `install_recorder` (the exporter's own storage and rendering, not plugobs' direct
//! renderer `plugobs::prometheus::install`): after each of six flushes, with calls before
//! some and none before others, every rendered counter is plugobs' exact total and every
//! gauge its value. The scenario is in `exporter_common`.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use std::collections::BTreeMap;

use exporter_common::{Exporter, Observed, parse_prometheus};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

#[derive(Default)]
struct Prometheus {
    handle: Option<PrometheusHandle>,
}

impl Exporter for Prometheus {
    fn install(&mut self) {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("install the Prometheus recorder");
        self.handle = Some(handle);
    }

    fn observe(&mut self, _flush: usize) -> Observed {
        // The recorder stores what the bridge sent synchronously: a render reads it.
        let text = self.handle.as_ref().expect("installed").render();
        let parsed = parse_prometheus(&text);
        let mut observed = Observed {
            described: Some(BTreeMap::new()),
            ..Observed::default()
        };
        for (key, value) in parsed.samples {
            let kind = parsed.types.get(&key.0).map(String::as_str);
            match kind {
                Some("counter") => {
                    observed.counters.insert(key, value as u64);
                }
                Some("gauge") => {
                    observed.gauges.insert(key, value);
                }
                other => observed.problems.push(format!(
                    "{} rendered with type {other:?} (the bridge sends only counters and \
                     gauges in the default histogram mode)",
                    key.0
                )),
            }
        }
        let described = observed.described.as_mut().expect("set above");
        for (name, help) in parsed.help {
            described.insert(name, (String::new(), help));
        }
        observed
    }
}

#[test]
fn the_prometheus_exporter_holds_exact_totals_after_every_flush() {
    exporter_common::run(&mut Prometheus::default());
}
