//! Spans: one per lifecycle step and per operation, with `plugin.name`, `plugin.kind`, and
//! on failure `error.type` and `otel.status_code = "ERROR"`; arguments only when asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use plugobs::{Plugin, Registry};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

type SpanFields = BTreeMap<String, String>;

/// Every span's name and its recorded fields, in creation order.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, SpanFields)>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        fields.insert("#id".into(), id.into_u64().to_string());
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, fields)) = spans
            .iter_mut()
            .rev()
            .find(|(_, f)| f.get("#id") == Some(&id.into_u64().to_string()))
        {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

fn with_spans(f: impl FnOnce()) -> Spans {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::with_default(subscriber, f);
    spans
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum LookupError {
    Missing,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing")
    }
}

pub trait Lookup: Send + Sync {
    fn lookup(&self, key: &str, secret: &str) -> Result<u32, LookupError>;
}

#[plugobs::plugin(kind = "lookup", provides = dyn Lookup, start = Self::warm)]
#[derive(Default)]
pub struct SpannedLookup;

impl SpannedLookup {
    fn warm(&mut self) -> Result<(), String> {
        Err("cache unavailable".into())
    }
}

#[plugobs::instrumented]
impl Lookup for SpannedLookup {
    #[instrumented(fields(key))]
    fn lookup(&self, key: &str, secret: &str) -> Result<u32, LookupError> {
        let _ = secret;
        if key.is_empty() {
            Err(LookupError::Missing)
        } else {
            Ok(1)
        }
    }
}

#[test]
fn lifecycle_and_operation_spans_carry_the_plugin_and_the_failure() {
    let registry = Registry::from_descriptors([SpannedLookup::DESCRIPTOR]).unwrap();
    let spans = with_spans(|| {
        let report = registry.load_all::<dyn Lookup>();
        assert_eq!(report.failures.len(), 1);
        let lookup = SpannedLookup;
        assert!(lookup.lookup("", "hunter2").is_err());
        assert!(lookup.lookup("k", "hunter2").is_ok());
    });

    let load = spans.named("plugin.load");
    assert_eq!(load.len(), 1);
    assert_eq!(load[0]["plugin.name"], "spanned_lookup");
    assert_eq!(load[0]["plugin.kind"], "lookup");
    assert!(!load[0].contains_key("otel.status_code"));

    let start = spans.named("plugin.start");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["otel.status_code"], "ERROR");
    assert_eq!(start[0]["error.type"], "alloc::string::String");

    let ops = spans.named("lookup");
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0]["plugin.name"], "spanned_lookup");
    assert_eq!(ops[0]["plugin.kind"], "lookup");
    // With `fields(...)` too: the value the host built is the default instance.
    assert_eq!(ops[0]["plugin.instance"], "spanned_lookup");
    assert_eq!(ops[0]["key"], "\"\"");
    assert_eq!(ops[0]["error.type"], "missing");
    assert_eq!(ops[0]["otel.status_code"], "ERROR");
    assert_eq!(ops[1]["key"], "\"k\"");
    assert!(!ops[1].contains_key("otel.status_code"));
    // Arguments not listed in `fields` are never recorded.
    assert!(
        ops.iter()
            .all(|f| !f.contains_key("secret") && !f.values().any(|v| v.contains("hunter2")))
    );
}

/// Events at WARN and above with their message and `to` field.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(tracing::Level, SpanFields)>>>);

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields));
    }
}

pub trait Probe: Send + Sync {}

#[plugobs::plugin(kind = "probe", provides = dyn Probe, health = Self::check)]
#[derive(Default)]
pub struct SpannedProbe {
    calls: std::sync::atomic::AtomicU32,
}

impl Probe for SpannedProbe {}

impl SpannedProbe {
    fn check(&self) -> plugobs::Health {
        match self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => plugobs::Health::healthy(),
            1 => panic!("probe exploded"),
            _ => plugobs::Health::healthy(),
        }
    }
}

#[test]
fn health_checks_run_in_spans_and_status_changes_are_logged_by_severity() {
    let registry = Registry::from_descriptors([SpannedProbe::DESCRIPTOR]).unwrap();
    let events = Events::default();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry()
        .with(spans.clone())
        .with(events.clone());
    tracing::subscriber::with_default(subscriber, || {
        let _probe = registry.load::<dyn Probe>("spanned_probe").unwrap();
        for _ in 0..3 {
            registry.check_health();
        }
    });

    let checks = spans.named("plugin.health_check");
    assert_eq!(checks.len(), 3);
    assert_eq!(checks[0]["plugin.name"], "spanned_probe");
    assert_eq!(checks[0]["plugin.kind"], "probe");
    assert_eq!(checks[0]["health.status"], "healthy");
    assert!(!checks[0].contains_key("otel.status_code"));
    assert_eq!(checks[1]["health.status"], "unhealthy");
    assert_eq!(checks[1]["error.type"], "panic");
    assert_eq!(checks[1]["otel.status_code"], "ERROR");
    assert_eq!(checks[2]["health.status"], "healthy");

    let health_events: Vec<(tracing::Level, String, String)> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, f)| f.get("message").map(String::as_str) == Some("plugin health changed"))
        .map(|(level, f)| (*level, f["from"].clone(), f["to"].clone()))
        .collect();
    assert_eq!(
        health_events,
        vec![
            (tracing::Level::INFO, "unknown".into(), "healthy".into()),
            (tracing::Level::WARN, "healthy".into(), "unhealthy".into()),
            (tracing::Level::INFO, "unhealthy".into(), "healthy".into()),
        ]
    );
}
