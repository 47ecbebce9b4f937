//! plugobs' families in the Prometheus text format or OpenMetrics, rendered straight from
//! its aggregates: exact counts and exact cumulative buckets, nothing stored per call, a
//! cost in proportion to the series, not to the calls.
//!
//! Histograms use each metric's recommended bounds (see [`crate::model::names`]); a
//! log-linear bucket counts under the first bound at or above its midpoint, so a value is
//! placed within about 1.6 % of a bound, and `_sum` and `_count` are exact.
//!
//! OpenMetrics carries the exemplars of the operation latency buckets (feature
//! `exemplars`, see [`crate::exemplars`]) after the `_bucket` line of the bucket their
//! value falls in, each `# {trace_id="…",span_id="…"} <seconds> <unix seconds>`, and
//! only while younger than [`max_age`](crate::exemplars) (5 minutes by default). The
//! Prometheus text format carries none.
//!
//! ```
//! use plugobs_runtime::exposition::{self, Format};
//! let text = exposition::render(plugobs_runtime::registry(), Format::Prometheus);
//! assert!(text.contains("# TYPE plugobs_plugins gauge\n"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::export::bridge::full_name;
use crate::export::walk::{Series, Value};
use crate::model::exemplar::Exemplar;
use crate::model::names::{self, MetricDef, MetricType};
use crate::registry::Registry;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`), ending in `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The HTTP `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Renders every plugobs family of `registry` in `format`.
pub fn render(registry: &Registry, format: Format) -> String {
    let mut out = String::new();
    render_into(registry, format, &mut out);
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// Appends every plugobs family of `registry` in `format` to `out`, without the
/// OpenMetrics `# EOF` line (so it can be followed by other families).
pub fn render_into(registry: &Registry, format: Format, out: &mut String) {
    // Samples per family, then families in the order of the closed list, then the
    // plugins' custom families by name. A family's full name and `le` values are
    // formatted once per render, not once per sample.
    let mut families: BTreeMap<(usize, &'static str), (&'static MetricDef, Family)> =
        BTreeMap::new();
    // Exemplars: OpenMetrics only, and only those young enough.
    let exemplars_at = (format == Format::OpenMetrics).then(exemplar_clock);
    registry.walk_series(&mut |_, _| true, &mut |series| {
        let position = names::ALL
            .iter()
            .position(|d| d.name == series.def.name)
            .unwrap_or(usize::MAX);
        let (_, family) = families
            .entry((position, series.def.name))
            .or_insert_with(|| {
                (
                    series.def,
                    Family {
                        name: full_name(series.def),
                        le: series.def.buckets.iter().map(|b| number(*b)).collect(),
                        samples: String::new(),
                        exemplars_at,
                    },
                )
            });
        family.sample(&series);
    });
    for (def, Family { samples, .. }) in families.into_values() {
        let name = full_name(def);
        let family = match (format, def.kind) {
            (Format::OpenMetrics, MetricType::Counter) => {
                name.strip_suffix("_total").unwrap_or(&name).to_owned()
            }
            _ => name.clone(),
        };
        // Sampled operations say so, in comments Prometheus' text parsers skip (OpenMetrics
        // allows no free comment: there `stats()` and the page say it).
        // Only once something was sampled: otherwise no render pays for the look.
        if format == Format::Prometheus
            && def.name == names::OPERATION_DURATION.name
            && crate::core::cells::any_sampled()
        {
            for (labels, every) in registry.sampled_operations() {
                let mut selector = String::new();
                line(&mut selector, &name, "", &labels, None, "");
                let _ = writeln!(
                    out,
                    "# sampled: {} times 1 call in {every}: its buckets, _count and _sum are the timed calls'",
                    selector.trim_end()
                );
            }
        }
        let _ = writeln!(out, "# HELP {family} {}", escape_help(def.help));
        let _ = writeln!(out, "# TYPE {family} {}", def.kind.as_str());
        if format == Format::OpenMetrics && def.unit == Some(metrics::Unit::Seconds) {
            let _ = writeln!(out, "# UNIT {family} seconds");
        }
        out.push_str(&samples);
    }
}

/// One family's text while it is rendered.
struct Family {
    name: String,
    /// The `le` label values of its buckets.
    le: Vec<String>,
    samples: String,
    /// OpenMetrics: now and the oldest exemplar shown (Unix nanoseconds); `None`: no
    /// exemplars (the Prometheus text format).
    exemplars_at: Option<u64>,
}

/// The oldest time (Unix nanoseconds) an exemplar exposed now may have.
fn exemplar_clock() -> u64 {
    #[cfg(feature = "exemplars")]
    {
        use crate::core::exemplar::{max_age, now_unix_nanos};
        now_unix_nanos().saturating_sub(u64::try_from(max_age().as_nanos()).unwrap_or(u64::MAX))
    }
    #[cfg(not(feature = "exemplars"))]
    u64::MAX
}

impl Family {
    fn sample(&mut self, series: &Series<'_>) {
        let (out, name) = (&mut self.samples, self.name.as_str());
        match series.value {
            Value::Counter(n) => line(out, name, "", series.labels, None, &n.to_string()),
            Value::CounterSeconds(nanos) => {
                let seconds = number(nanos as f64 / 1e9);
                line(out, name, "", series.labels, None, &seconds);
            }
            Value::Gauge(v) => line(out, name, "", series.labels, None, &number(v)),
            Value::Histogram(h) => {
                let counts = h.cumulative(series.def.buckets);
                let exemplar = |at: usize| {
                    let oldest = self.exemplars_at?;
                    series
                        .exemplars
                        .iter()
                        .find(|(a, e)| *a == at && e.unix_nanos >= oldest)
                        .map(|(_, e)| e)
                };
                for (at, (le, n)) in self.le.iter().zip(counts).enumerate() {
                    line(
                        out,
                        name,
                        "_bucket",
                        series.labels,
                        Some(le),
                        &n.to_string(),
                    );
                    if let Some(e) = exemplar(at) {
                        exemplar_suffix(out, e);
                    }
                }
                let count = h.count().to_string();
                line(out, name, "_bucket", series.labels, Some("+Inf"), &count);
                if let Some(e) = exemplar(self.le.len()) {
                    exemplar_suffix(out, e);
                }
                let sum = number(h.sum_nanos() as f64 / 1e9);
                line(out, name, "_sum", series.labels, None, &sum);
                line(out, name, "_count", series.labels, None, &count);
            }
        }
    }
}

fn line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&'static str, &'static str)],
    le: Option<&str>,
    value: &str,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|&(k, v)| (k, v))
            .chain(le.map(|le| ("le", le)))
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Appends an exemplar to the line just written (OpenMetrics):
/// ` # {trace_id="…",span_id="…"} <value> <timestamp>`. Its labels are 32 + 16 hex digits
/// and two names, 64 characters, within the spec's 128.
fn exemplar_suffix(out: &mut String, e: &Exemplar) {
    if out.ends_with('\n') {
        out.pop();
    }
    let _ = writeln!(
        out,
        " # {{trace_id=\"{:032x}\",span_id=\"{:016x}\"}} {} {}",
        e.trace_id,
        e.span_id,
        number(e.seconds()),
        number(e.timestamp_seconds()),
    );
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_and_without_labels_and_le() {
        // (suffix, labels, le, value, the line expected)
        type Case = (
            &'static str,
            Labels,
            Option<&'static str>,
            &'static str,
            &'static str,
        );
        type Labels = &'static [(&'static str, &'static str)];
        let cases: &[Case] = &[
            ("", &[], None, "1", "plugobs_plugins 1\n"),
            (
                "_total",
                &[("plugin", "a"), ("kind", "sink")],
                None,
                "7",
                "plugobs_plugins_total{plugin=\"a\",kind=\"sink\"} 7\n",
            ),
            (
                "_bucket",
                &[],
                Some("+Inf"),
                "3",
                "plugobs_plugins_bucket{le=\"+Inf\"} 3\n",
            ),
            (
                "_bucket",
                &[("plugin", "a")],
                Some("0.005"),
                "2",
                "plugobs_plugins_bucket{plugin=\"a\",le=\"0.005\"} 2\n",
            ),
            (
                "",
                &[("instance", "we\"ird\\na\nme")],
                None,
                "0",
                "plugobs_plugins{instance=\"we\\\"ird\\\\na\\nme\"} 0\n",
            ),
        ];
        for (suffix, labels, le, value, expected) in cases {
            let mut out = String::new();
            line(&mut out, "plugobs_plugins", suffix, labels, *le, value);
            assert_eq!(out, *expected, "{suffix:?} {labels:?} {le:?}");
        }
    }

    #[test]
    fn an_exemplar_follows_its_bucket_line() {
        let e = Exemplar {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x00f067aa0ba902b7,
            value_nanos: 4_300_000,
            unix_nanos: 1_733_130_000_123_456_789,
        };
        let mut out = String::new();
        line(&mut out, "x", "_bucket", &[], Some("0.005"), "3");
        exemplar_suffix(&mut out, &e);
        assert_eq!(
            out,
            "x_bucket{le=\"0.005\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.0043 1733130000.123\n"
        );
    }

    #[test]
    fn numbers_as_the_text_format_writes_them() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (0.25, "0.25"),
            (1e-5, "0.00001"),
            (12345678.0, "12345678"),
            (-3.5, "-3.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, expected) in cases {
            assert_eq!(number(*v), *expected, "{v:?}");
        }
    }

    #[test]
    fn label_values_and_help_text_are_escaped() {
        let labels: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("back\\slash", "back\\\\slash"),
            ("a \"quote\"", "a \\\"quote\\\""),
            ("two\nlines", "two\\nlines"),
            ("µs and ü", "µs and ü"),
        ];
        for (input, expected) in labels {
            let mut out = String::new();
            escape_label(&mut out, input);
            assert_eq!(out, *expected, "{input:?}");
        }
        // Help text escapes backslashes and newlines, not quotes.
        let help: &[(&str, &str)] = &[
            ("Calls, by outcome.", "Calls, by outcome."),
            ("a \"quoted\" word", "a \"quoted\" word"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
        ];
        for (input, expected) in help {
            assert_eq!(escape_help(input), *expected, "{input:?}");
        }
    }
}
