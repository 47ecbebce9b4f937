//! The closed list of metric names: `plugobs::names::ALL` agrees with DESIGN.md's table,
//! and every metric in it is actually published.

mod common;

use metrics_util::MetricKind;
use plugobs::names::{self, MetricType};
use plugobs::{Plugin, Registry};

/// Metrics in DESIGN.md whose issue has not landed yet. Shrinks to nothing.
const NOT_YET_BUILT: &[&str] = &[
    "plugobs_plugin_health",
    "plugobs_plugin_up",
    "plugobs_plugin_health_check_duration_seconds",
    "plugobs_plugin_health_check_failures_total",
    "plugobs_plugin_health_last_check_timestamp_seconds",
];

pub trait Worker: Send + Sync {
    fn work(&self, n: u32) -> Result<u32, WorkError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum WorkError {
    Odd,
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

#[plugobs::plugin(kind = "worker", provides = dyn Worker)]
#[derive(Default)]
pub struct GoodWorker;
#[plugobs::instrumented]
impl Worker for GoodWorker {
    fn work(&self, n: u32) -> Result<u32, WorkError> {
        if n % 2 == 1 {
            Err(WorkError::Odd)
        } else {
            Ok(n)
        }
    }
}

struct DesignRow {
    name: String,
    kind: String,
    labels: Vec<String>,
}

fn design_rows() -> Vec<DesignRow> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/DESIGN.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("DESIGN.md must sit in ../shared beside the checkout ({path}): {e}")
    });
    text.lines()
        .filter(|l| l.starts_with("| `plugobs_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            DesignRow {
                name: cells[1].trim_matches('`').to_owned(),
                kind: cells[2].split_whitespace().next().unwrap_or("").to_owned(),
                labels: match cells[3] {
                    "—" | "-" | "" => vec![],
                    labels => labels
                        .split(',')
                        .map(|s| s.split_whitespace().next().unwrap_or("").to_owned())
                        .collect(),
                },
            }
        })
        .collect()
}

fn type_word(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
    }
}

#[test]
fn names_agree_with_design_md() {
    let rows = design_rows();
    assert_eq!(
        rows.len(),
        17,
        "DESIGN.md's table changed; update this test and names.rs"
    );
    for row in &rows {
        let built = names::ALL
            .iter()
            .find(|d| format!("plugobs_{}", d.name) == row.name);
        match built {
            Some(def) => {
                assert_eq!(type_word(def.kind), row.kind, "{}", row.name);
                assert_eq!(def.labels, row.labels.as_slice(), "{}", row.name);
                if def.kind == MetricType::Counter {
                    assert!(def.name.ends_with("_total"), "{}", row.name);
                }
                if def.kind == MetricType::Histogram {
                    assert!(
                        def.name.ends_with("_seconds") && !def.buckets.is_empty(),
                        "{}",
                        row.name
                    );
                }
            }
            None => assert!(
                NOT_YET_BUILT.contains(&row.name.as_str()),
                "{} is in DESIGN.md but not built",
                row.name
            ),
        }
    }
    for def in names::ALL {
        let full = format!("plugobs_{}", def.name);
        assert!(
            rows.iter().any(|r| r.name == full),
            "{full} is emitted but not in DESIGN.md"
        );
        assert!(
            !NOT_YET_BUILT.contains(&full.as_str()),
            "{full} is built: take it off NOT_YET_BUILT"
        );
    }
}

#[test]
fn every_listed_metric_is_published_with_its_labels() {
    let registry =
        Registry::from_descriptors([FailingWorker::DESCRIPTOR, GoodWorker::DESCRIPTOR]).unwrap();
    let published = common::capture(|| {
        let report = registry.load_all::<dyn Worker>();
        assert_eq!(report.failures.len(), 1);
        for worker in &report.loaded {
            assert_eq!(worker.work(2).ok(), Some(2));
            assert!(worker.work(3).is_err());
        }
        for worker in report.loaded {
            worker.stop().unwrap();
        }
        registry.flush();
    });
    let shapes = published.shapes();
    for def in names::ALL {
        let kind = match def.kind {
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
