//! metrics-exporter-prometheus installed with `install_recorder` (the exporter's own
//! storage and rendering, not plugobs' direct renderer `plugobs::prometheus::install`);
//! each observation is a `render()` of its handle, parsed.

use std::collections::BTreeMap;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::{Exporter, Observed, parse_prometheus};

#[derive(Default)]
pub struct Prometheus {
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
        let summaries: Vec<String> = parsed
            .types
            .iter()
            .filter(|(_, kind)| *kind == "summary")
            .map(|(name, _)| name.clone())
            .collect();
        let summary_part = |name: &str| -> Option<(String, &'static str)> {
            ["_count", "_sum"].into_iter().find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| summaries.iter().any(|s| s == base))
                    .map(|base| (base.to_owned(), suffix))
            })
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
                // `Samples` mode: the exporter renders a histogram as a summary, whose
                // `_count` and `_sum` series are read back as the histogram.
                None if summary_part(&key.0).is_some() => {
                    let (base, suffix) = summary_part(&key.0).expect("just matched");
                    let entry = observed.histograms.entry((base, key.1)).or_default();
                    match suffix {
                        "_count" => entry.0 = value as u64,
                        _ => entry.1 = value,
                    }
                }
                Some("summary") => {}
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
