//! The scenario the real-exporter tests share (`exporter_prometheus`, `exporter_dogstatsd`,
//! `exporter_opentelemetry`): each binary installs one exporter as the process's global
//! recorder, runs [`run`], and reports what its back end holds after every flush.
//!
//! The scenario, on the global registry with the background flusher held off (1 h):
//! calls, a flush into no recorder at all, then the exporter is installed (a *late*
//! recorder) and six flushes follow, with calls before some of them and none before
//! others. After each flush, every counter series the back end holds must equal
//! plugobs' own total exactly, and every gauge its current value:
//!
//! * the operation and error counters against a model of the calls the test made;
//! * every counter series (`_total` families, histogram `_bucket` and `_count`) and
//!   every gauge (histogram `_sum` in seconds included) against plugobs' direct
//!   rendering of the same registry at the same moment (`exposition::render`, which
//!   reads the aggregates and is itself checked against the model), so latency buckets,
//!   which depend on timing, are still compared exactly.
//!
//! In `CountAndSum` mode the `_bucket` series are not expected; in `Samples` mode neither
//! `_bucket`, `_count` nor `_sum`: the back end's own histogram must hold exactly as many
//! values as calls were made, summing to plugobs' `_sum` within 2 % (each value is a
//! bucket midpoint, within 1.6 % of the latency).
//!
//! A counter series the back end does not hold counts as 0 (an exporter that was never
//! sent a series has received a total of 0 for it). Failures of every flush are
//! collected and reported together, so one run shows what each flush got wrong.
#![allow(dead_code)]

pub mod dogstatsd;
pub mod opentelemetry;
pub mod prometheus;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use plugobs::bridge::{self, HistogramMode};
use plugobs::exposition::{self, Format};

/// Label pairs, sorted by key.
pub type Labels = Vec<(String, String)>;
/// A series: metric name and sorted labels.
pub type SeriesKey = (String, Labels);

/// Sorts label pairs and writes `le` bounds one way (`f64`'s `Display`), whatever the
/// source's number formatting.
pub fn normalize(mut labels: Labels) -> Labels {
    for (k, v) in &mut labels {
        if k == "le" && v != "+Inf" {
            if let Ok(bound) = v.parse::<f64>() {
                *v = bound.to_string();
            }
        }
    }
    labels.sort();
    labels
}

fn key(name: &str, pairs: &[(&str, &str)]) -> SeriesKey {
    (
        name.to_owned(),
        normalize(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
    )
}

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum LedgerError {
    Full,
    Conflict,
    Missing,
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[plugobs::plugin(kind = "store", version = "1.0.0")]
#[derive(Default)]
pub struct Ledger;

#[plugobs::instrumented]
impl Ledger {
    fn write(&self, key: &str) -> Result<(), LedgerError> {
        match key {
            "full" => Err(LedgerError::Full),
            "conflict" => Err(LedgerError::Conflict),
            _ => Ok(()),
        }
    }

    fn read(&self, key: &str) -> Result<usize, LedgerError> {
        match key {
            "missing" => Err(LedgerError::Missing),
            _ => Ok(key.len()),
        }
    }
}

/// The calls made so far, by operation and outcome, and by operation and error kind.
#[derive(Debug, Default)]
pub struct Calls {
    pub outcomes: BTreeMap<(&'static str, &'static str), u64>,
    pub errors: BTreeMap<(&'static str, &'static str), u64>,
}

impl Calls {
    /// `n` calls of `write(key)`.
    pub fn write(&mut self, key: &str, n: u64) {
        for _ in 0..n {
            let result = Ledger.write(key);
            self.count("write", result.err());
        }
    }

    /// `n` calls of `read(key)`.
    pub fn read(&mut self, key: &str, n: u64) {
        for _ in 0..n {
            let result = Ledger.read(key);
            self.count("read", result.err());
        }
    }

    fn count(&mut self, op: &'static str, error: Option<LedgerError>) {
        let outcome = if error.is_some() { "error" } else { "ok" };
        *self.outcomes.entry((op, outcome)).or_default() += 1;
        if let Some(e) = error {
            let kind = match e {
                LedgerError::Full => "full",
                LedgerError::Conflict => "conflict",
                LedgerError::Missing => "missing",
            };
            *self.errors.entry((op, kind)).or_default() += 1;
        }
    }

    /// Calls of `op`, every outcome.
    pub fn total(&self, op: &str) -> u64 {
        self.outcomes
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| n)
            .sum()
    }

    /// The series the model knows exactly, with their values.
    pub fn expected(&self) -> Vec<(SeriesKey, u64)> {
        let mut out = Vec::new();
        for op in ["write", "read"] {
            let base = op_labels(op);
            for outcome in ["ok", "error"] {
                let mut l = base.to_vec();
                l.push(("outcome", outcome));
                let n = self.outcomes.get(&(op, outcome)).copied().unwrap_or(0);
                out.push((key("plugobs_plugin_operations_total", &l), n));
            }
            for ((o, kind), n) in &self.errors {
                if *o == op {
                    let mut l = base.to_vec();
                    l.push(("error_kind", kind));
                    out.push((key("plugobs_plugin_errors_total", &l), *n));
                }
            }
            let hist = "plugobs_plugin_operation_duration_seconds";
            let mut inf = base.to_vec();
            inf.push(("le", "+Inf"));
            out.push((key(&format!("{hist}_bucket"), &inf), self.total(op)));
            out.push((key(&format!("{hist}_count"), &base), self.total(op)));
        }
        out
    }
}

pub fn op_labels(op: &str) -> [(&str, &str); 4] {
    [
        ("plugin", "ledger"),
        ("kind", "store"),
        ("instance", "ledger"),
        ("operation", op),
    ]
}

/// A Prometheus text exposition, parsed: every sample by series, every `# TYPE` and
/// `# HELP` by family.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: BTreeMap<SeriesKey, f64>,
    pub types: BTreeMap<String, String>,
    pub help: BTreeMap<String, String>,
}

/// Parses the Prometheus text format (label values without escapes, which is all
/// plugobs' label values need).
pub fn parse_prometheus(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            out.types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.help.insert(name.to_owned(), help.to_owned());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("sample value in `{line}`")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let labels = inner
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label pair");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, Vec::new()),
        };
        out.samples
            .insert((name.to_owned(), normalize(labels)), value);
    }
    out
}

/// What plugobs itself holds now, from its direct rendering of the global registry.
#[derive(Debug, Default)]
pub struct Truth {
    /// Integer counters: `_total` families, histogram `_bucket` and `_count`.
    pub counters: BTreeMap<SeriesKey, u64>,
    /// Gauges, histogram `_sum` (seconds) included.
    pub gauges: BTreeMap<SeriesKey, f64>,
    /// Histogram families by name (`plugobs_plugin_operation_duration_seconds`).
    pub histogram_families: BTreeSet<String>,
    /// Per histogram series: count and sum (seconds).
    pub histograms: BTreeMap<SeriesKey, (u64, f64)>,
}

impl Truth {
    /// The histogram family a `_bucket`, `_count` or `_sum` series belongs to, and the
    /// suffix.
    pub fn histogram_part<'a>(&self, name: &'a str) -> Option<(&'a str, &'static str)> {
        ["_bucket", "_count", "_sum"]
            .into_iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| self.histogram_families.contains(*base))
                    .map(|base| (base, suffix))
            })
    }

    /// Whether the bridge sends this derived series to recorders in `mode`.
    pub fn sent_in(&self, name: &str, mode: HistogramMode) -> bool {
        match (self.histogram_part(name), mode) {
            (None, _) | (Some(_), HistogramMode::Buckets) => true,
            (Some((_, suffix)), HistogramMode::CountAndSum) => suffix != "_bucket",
            (Some(_), HistogramMode::Samples) => false,
        }
    }
}

/// Gauges whose value moves with the wall clock between a flush and a read.
const CLOCK_GAUGES: &[&str] = &[
    "plugobs_plugin_busy_ratio",
    "plugobs_plugin_health_last_check_timestamp_seconds",
];

impl Truth {
    pub fn now() -> Truth {
        let text = exposition::render(plugobs::registry(), Format::Prometheus);
        let parsed = parse_prometheus(&text);
        let family_type = |name: &str| -> Option<&str> {
            if let Some(t) = parsed.types.get(name) {
                return Some(t.as_str());
            }
            for suffix in ["_bucket", "_count", "_sum"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if parsed.types.get(base).map(String::as_str) == Some("histogram") {
                        return Some(match suffix {
                            "_sum" => "gauge",
                            _ => "counter",
                        });
                    }
                }
            }
            None
        };
        let mut truth = Truth::default();
        for (name, kind) in &parsed.types {
            if kind == "histogram" {
                truth.histogram_families.insert(name.clone());
            }
        }
        for ((name, labels), value) in &parsed.samples {
            if let Some(base) = name.strip_suffix("_count") {
                if truth.histogram_families.contains(base) {
                    let sum = parsed.samples[&(format!("{base}_sum"), labels.clone())];
                    truth
                        .histograms
                        .insert((base.to_owned(), labels.clone()), (*value as u64, sum));
                }
            }
        }
        for ((name, labels), value) in parsed.samples {
            match family_type(&name) {
                // A counter of seconds goes to recorders as a gauge.
                Some("counter") if value.fract() != 0.0 || name.ends_with("_seconds_total") => {
                    truth.gauges.insert((name, labels), value);
                }
                Some("counter") => {
                    truth.counters.insert((name, labels), value as u64);
                }
                Some("gauge") => {
                    if !CLOCK_GAUGES.contains(&name.as_str()) {
                        truth.gauges.insert((name, labels), value);
                    }
                }
                other => panic!("series {name} of unknown type {other:?} in\n{text}"),
            }
        }
        truth
    }
}

/// What an exporter's back end holds after a flush: per counter series the total it
/// received (the sum of the deltas on a wire, a cumulative sum, a rendered counter),
/// per gauge series its last value, and per metric name the description and unit it
/// was given, where the back end keeps them.
#[derive(Debug, Default)]
pub struct Observed {
    pub counters: BTreeMap<SeriesKey, u64>,
    pub gauges: BTreeMap<SeriesKey, f64>,
    /// Per histogram series (the back end's own histogram type, `Samples` mode): how many
    /// values it received and their sum.
    pub histograms: BTreeMap<SeriesKey, (u64, f64)>,
    /// Metric name → (unit, description).
    pub described: Option<BTreeMap<String, (String, String)>>,
    /// Anything the exporter itself found wrong (e.g. a name exported twice).
    pub problems: Vec<String>,
}

/// One exporter under test.
pub trait Exporter {
    /// Installs it as the global `metrics` recorder.
    fn install(&mut self);
    /// What its back end holds once everything plugobs flushed (flush number `flush`,
    /// counting from 1 after the install) has reached it.
    fn observe(&mut self, flush: usize) -> Observed;
    /// Whether the back end records units (checked against the closed list).
    fn keeps_units(&self) -> bool {
        false
    }
}

fn show(key: &SeriesKey) -> String {
    let labels: Vec<String> = key.1.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", key.0, labels.join(","))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// Compares one flush's observation with the model and with plugobs' own aggregates.
fn compare(
    flush: usize,
    what: &str,
    calls: &Calls,
    truth: &Truth,
    observed: &Observed,
    keeps_units: bool,
    mode: HistogramMode,
) -> Vec<String> {
    let at = format!("flush {flush} ({what})");
    let mut failures: Vec<String> = observed
        .problems
        .iter()
        .map(|p| format!("{at}: {p}"))
        .collect();
    // plugobs' direct rendering against the model: the reference itself is right.
    for (key, want) in calls.expected() {
        let direct = truth.counters.get(&key).copied();
        if direct != Some(want) {
            failures.push(format!(
                "{at}: plugobs' own rendering has {} = {direct:?}, the calls made {want}",
                show(&key)
            ));
        }
        let got = match truth.histogram_part(&key.0) {
            _ if truth.sent_in(&key.0, mode) => observed.counters.get(&key).copied(),
            // In `Samples` mode the count is that of the back end's histogram.
            Some((base, "_count")) if mode == HistogramMode::Samples => observed
                .histograms
                .get(&(base.to_owned(), key.1.clone()))
                .map(|h| h.0),
            _ => continue,
        };
        let got = got.unwrap_or(0);
        if got != want {
            failures.push(format!(
                "{at}: {} exported {got}, expected {want} (calls made)",
                show(&key)
            ));
        }
    }
    let mut others = Vec::new();
    let modelled: BTreeSet<SeriesKey> = calls.expected().into_iter().map(|(k, _)| k).collect();
    for (key, &want) in &truth.counters {
        if !truth.sent_in(&key.0, mode) || modelled.contains(key) {
            continue;
        }
        let got = observed.counters.get(key).copied().unwrap_or(0);
        if got != want {
            others.push(format!(
                "{at}: {} exported {got}, expected {want}",
                show(key)
            ));
        }
    }
    for (key, &want) in &truth.gauges {
        if !truth.sent_in(&key.0, mode) {
            continue;
        }
        match observed.gauges.get(key) {
            Some(&got) if close(got, want) => {}
            got => others.push(format!(
                "{at}: gauge {} exported {got:?}, expected {want}",
                show(key)
            )),
        }
    }
    for key in observed.counters.keys() {
        if key.0.starts_with("plugobs_") && !truth.counters.contains_key(key) {
            others.push(format!(
                "{at}: {} exported but plugobs has no such counter",
                show(key)
            ));
        }
    }
    if mode == HistogramMode::Samples {
        for (key, &(count, sum)) in &truth.histograms {
            let (got_count, got_sum) = observed.histograms.get(key).copied().unwrap_or_default();
            // Each value is a bucket's midpoint, within 1.6 % of the call's latency.
            let sum_ok = (got_sum - sum).abs() <= 0.02 * sum.abs();
            if got_count != count || !sum_ok {
                others.push(format!(
                    "{at}: histogram {} holds {got_count} values summing to {got_sum}, \
                     expected {count} summing to {sum} (± 2 %)",
                    show(key)
                ));
            }
        }
        for key in observed.histograms.keys() {
            if key.0.starts_with("plugobs_") && !truth.histograms.contains_key(key) {
                others.push(format!(
                    "{at}: histogram {} exported but plugobs has no such series",
                    show(key)
                ));
            }
        }
    }
    let count = others.len();
    failures.extend(others.into_iter().take(12));
    if count > 12 {
        failures.push(format!("{at}: … and {} more series differ", count - 12));
    }
    // Every family of the closed list the back end holds was described first.
    if let Some(described) = &observed.described {
        for def in plugobs::names::ALL {
            let name = format!("plugobs_{}", def.name);
            let present = observed
                .counters
                .keys()
                .chain(observed.gauges.keys())
                .chain(observed.histograms.keys())
                .any(|(n, _)| *n == name);
            if !present {
                continue;
            }
            let want_unit = if keeps_units {
                def.unit.map(|u| u.as_canonical_label()).unwrap_or("")
            } else {
                ""
            };
            match described.get(&name) {
                Some((unit, help)) if help == def.help && unit == want_unit => {}
                got => failures.push(format!(
                    "{at}: {name} described as {got:?}, expected ({want_unit:?}, {:?})",
                    def.help
                )),
            }
        }
    }
    failures
}

/// The scenario, with histograms forwarded in `mode`: see the module's documentation.
pub fn run(mode: HistogramMode, exporter: &mut dyn Exporter) {
    // Before anything touches the global registry (its first use starts the flusher).
    bridge::set_flush_interval(Duration::from_secs(3600));
    bridge::set_histogram_mode(mode);

    let mut calls = Calls::default();
    calls.write("k", 288);
    calls.read("k", 12);
    calls.write("full", 3);
    // A flush into no recorder: nothing receives it, and nothing may be lost by it.
    plugobs::flush();

    exporter.install();

    type Step = fn(&mut Calls);
    let steps: [(&str, Step); 6] = [
        (
            "first into the late recorder, no calls since the flush into none",
            |_| {},
        ),
        ("after 96 writes and 4 missing reads", |c| {
            c.write("k", 96);
            c.read("missing", 4);
        }),
        ("no calls since the last", |_| {}),
        ("after 5 full and 2 conflicting writes", |c| {
            c.write("full", 5);
            c.write("conflict", 2);
        }),
        ("no calls since the last", |_| {}),
        ("after 10 reads", |c| c.read("k", 10)),
    ];
    let mut failures = Vec::new();
    for (i, (what, step)) in steps.iter().enumerate() {
        step(&mut calls);
        plugobs::flush();
        let truth = Truth::now();
        let observed = exporter.observe(i + 1);
        // For the record (`--nocapture`): the write/ok counter and the write latency
        // count, as the exporter holds them and as plugobs counts them.
        let pick = |counters: &BTreeMap<SeriesKey, u64>, name: &str, pairs: &[(&str, &str)]| {
            counters
                .iter()
                .filter(|((n, labels), _)| {
                    n == name
                        && pairs
                            .iter()
                            .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|(_, v)| *v)
                .sum::<u64>()
        };
        let ops = "plugobs_plugin_operations_total";
        let count = "plugobs_plugin_operation_duration_seconds_count";
        let write_ok = [("operation", "write"), ("outcome", "ok")];
        let write = [("operation", "write")];
        let observed_count = if mode == HistogramMode::Samples {
            observed
                .histograms
                .iter()
                .filter(|((n, labels), _)| {
                    n == "plugobs_plugin_operation_duration_seconds"
                        && labels.iter().any(|(k, v)| k == "operation" && v == "write")
                })
                .map(|(_, (n, _))| *n)
                .sum::<u64>()
        } else {
            pick(&observed.counters, count, &write)
        };
        println!(
            "{mode:?} flush {}: {what}: write/ok {} (plugobs {}), write latency count {} (plugobs {})",
            i + 1,
            pick(&observed.counters, ops, &write_ok),
            pick(&truth.counters, ops, &write_ok),
            observed_count,
            pick(&truth.counters, count, &write),
        );
        failures.extend(compare(
            i + 1,
            what,
            &calls,
            &truth,
            &observed,
            exporter.keeps_units(),
            mode,
        ));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
