//! Reading a plugin's custom metrics: the list the export walk publishes and the values
//! `stats()` shows.

use crate::core::custom::{CustomKind, CustomMetric};
use crate::model::descriptor::PluginDescriptor;
use crate::model::stats::{CustomStats, CustomValue};

/// Every custom metric of instance `slot` of the plugin `descriptor`, ordered by name
/// then type.
pub(crate) fn of(descriptor: &'static PluginDescriptor, slot: usize) -> Vec<&'static CustomMetric> {
    let mut out: Vec<_> = crate::core::plugin_cells::of(descriptor)
        .custom()
        .iter()
        .copied()
        .filter(|m| m.slot == slot)
        .collect();
    out.sort_by_key(|m| (m.name, m.kind as u8));
    out
}

impl CustomStats {
    /// Every series of every custom metric of instance `slot` of `descriptor`.
    pub(crate) fn of(descriptor: &'static PluginDescriptor, slot: usize) -> Vec<CustomStats> {
        let mut out = Vec::new();
        for metric in of(descriptor, slot) {
            for series in metric.each_series() {
                let value = match metric.kind {
                    CustomKind::Counter => CustomValue::Counter {
                        value: series.raw(),
                    },
                    CustomKind::Gauge => CustomValue::Gauge {
                        value: f64::from_bits(series.raw()),
                    },
                    CustomKind::Histogram => {
                        let h = series.histogram().unwrap_or_default();
                        CustomValue::Histogram {
                            count: h.count(),
                            sum: h.sum_nanos() as f64 / 1e9,
                            p50: h.quantile_nanos(0.5).map(|v| v / 1e9),
                            p99: h.quantile_nanos(0.99).map(|v| v / 1e9),
                        }
                    }
                };
                out.push(CustomStats {
                    name: metric.name,
                    labels: series.extra_labels().to_vec(),
                    value,
                });
            }
        }
        out
    }
}
