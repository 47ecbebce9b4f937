//! The closed list of metric names: `plugobs::names::ALL` agrees with the checked-in
//! reference `docs/metrics.md`, follows Prometheus conventions, and every metric in it is
//! actually published.

mod common;

use metrics_util::MetricKind;
use plugobs::names::{self, MetricType};
use plugobs::{Plugin, Registry};

// The opt-in allocation counters are published only with this allocator installed.
#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<std::alloc::System> =
    plugobs::alloc::Attributed::new(std::alloc::System);

pub trait Worker: Send + Sync {
    fn work(&self, n: u32) -> Result<u32, WorkError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum WorkError {
    Odd,
    Unavailable,
}

impl From<plugobs::BreakerOpen> for WorkError {
    fn from(_: plugobs::BreakerOpen) -> Self {
        WorkError::Unavailable
    }
}

#[plugobs::plugin(kind = "worker", provides = dyn Worker, start = Self::fail)]
#[derive(Default)]
pub struct FailingWorker;
impl FailingWorker {
    fn fail(&mut self) -> Result<(), String> {
        Err("nope".into())
    }
}
impl Worker for FailingWorker {
    fn work(&self, n: u32) -> Result<u32, WorkError> {
        Ok(n)
    }
}

#[plugobs::plugin(kind = "worker", provides = dyn Worker, health = Self::check)]
#[derive(Default)]
pub struct GoodWorker;
impl GoodWorker {
    fn check(&self) -> plugobs::Health {
        plugobs::Health::healthy()
    }
}
#[plugobs::instrumented(cpu, objective = "99.9%", latency = "10ms", breaker(consecutive = 100))]
impl Worker for GoodWorker {
    fn work(&self, n: u32) -> Result<u32, WorkError> {
        if n % 2 == 1 {
            Err(WorkError::Odd)
        } else {
            Ok(n)
        }
    }
}

/// `docs/metrics.md` is what `names::reference_markdown()` generates from the code.
#[test]
fn reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    let checked_in = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read the metric reference {path}: {e}"));
    let generated = names::reference_markdown();
    assert!(
        checked_in == generated,
        "docs/metrics.md is stale: regenerate it with\n\n    \
         cargo run -p plugobs-examples --bin metrics-reference > docs/metrics.md\n\n\
         generated:\n{generated}"
    );
    // One row per metric, in the order of names::ALL.
    let rows: Vec<&str> = checked_in
        .lines()
        .filter(|l| l.starts_with("| `plugobs_") && l.matches('|').count() == 6)
        .collect();
    assert_eq!(rows.len(), names::ALL.len());
    for (row, def) in rows.iter().zip(names::ALL) {
        assert!(row.starts_with(&format!(
            "| `plugobs_{}` | {} |",
            def.name,
            def.kind.as_str()
        )));
    }
}

/// Prometheus naming conventions hold for every entry of the closed list.
#[test]
fn names_follow_prometheus_conventions() {
    let mut seen = std::collections::BTreeSet::new();
    for def in names::ALL {
        assert!(seen.insert(def.name), "{} is listed twice", def.name);
        assert!(
            def.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{} is not snake_case",
            def.name
        );
        match def.kind {
            MetricType::Counter => assert!(def.name.ends_with("_total"), "{}", def.name),
            MetricType::Histogram => assert!(
                def.name.ends_with("_seconds") && !def.buckets.is_empty(),
                "{}",
                def.name
            ),
            MetricType::Gauge => assert!(!def.name.ends_with("_total"), "{}", def.name),
        }
        assert!(
            def.buckets.windows(2).all(|w| w[0] < w[1]),
            "{}: buckets must increase",
            def.name
        );
        assert!(!def.help.is_empty(), "{} has no help text", def.name);
    }
}

#[test]
fn every_listed_metric_is_published_with_its_labels() {
    let registry =
        Registry::from_descriptors([FailingWorker::DESCRIPTOR, GoodWorker::DESCRIPTOR]).unwrap();
    // A directory discovered at run time: the discovery series with `source`, and its
    // failed files by reason (an empty directory has none, but every reason is published).
    let dir = std::env::temp_dir().join(format!("plugobs-metric-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let discovered = registry.discover(&dir, |_, _| Ok(None));
    assert!(discovered.failures.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
    let published = common::capture(|| {
        let report = registry.load_all::<dyn Worker>();
        assert_eq!(report.failures.len(), 1);
        for worker in &report.loaded {
            assert_eq!(worker.work(2).ok(), Some(2));
            assert!(worker.work(3).is_err());
        }
        let health = registry.check_health();
        assert_eq!(health.checks.len(), 1);
        registry.flush();
        for worker in report.loaded {
            worker.stop().unwrap();
        }
        registry.flush();
    });
    let shapes = published.shapes();
    for def in names::ALL {
        let kind = match def.kind {
            // `metrics` counters are integers: a counter of seconds is published as a
            // gauge (the Prometheus exposition renders it as a counter).
            MetricType::Counter if def.unit == Some(metrics::Unit::Seconds) => MetricKind::Gauge,
            MetricType::Counter => MetricKind::Counter,
            MetricType::Gauge => MetricKind::Gauge,
            MetricType::Histogram => MetricKind::Histogram,
        };
        let name = format!("plugobs_{}", def.name);
        let mut want: Vec<String> = def.labels.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert!(
            shapes
                .iter()
                .any(|(k, n, labels)| *k == kind && *n == name && *labels == want),
            "{name} ({kind:?}, labels {want:?}) was not published; got {shapes:#?}"
        );
    }
}
