//! plugobs' spans as OpenTelemetry spans (tracing-opentelemetry into the SDK's in-memory
//! exporter): an operation is a child of the host's request span in the same trace, an
//! error sets the span's status, and lifecycle spans started outside any span are roots
//! carrying the plugin's attributes.

use opentelemetry::trace::{SpanId, Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use plugobs::{Plugin, Registry};
use tracing_subscriber::layer::SubscriberExt as _;

pub trait Store: Send + Sync {
    fn put(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum StoreError {
    Full,
}

#[plugobs::plugin(kind = "store", provides = dyn Store, start = Self::open)]
#[derive(Default)]
pub struct RedisStore;

impl RedisStore {
    fn open(&mut self) {}
}

#[plugobs::instrumented]
impl Store for RedisStore {
    fn put(&self, key: &str) -> Result<(), StoreError> {
        if key.is_empty() {
            Err(StoreError::Full)
        } else {
            Ok(())
        }
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// A subscriber turning tracing spans into OpenTelemetry spans kept in memory: the
/// exporter to read them from, the provider to flush, the subscriber to install.
fn in_memory() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    impl tracing::Subscriber + Send + Sync,
) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("plugobs-test")));
    (exporter, provider, subscriber)
}

#[test]
fn operations_join_the_hosts_trace_and_lifecycle_spans_are_roots() {
    let (exporter, provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([RedisStore::DESCRIPTOR]).unwrap();

    tracing::subscriber::with_default(subscriber, || {
        let store = registry.load::<dyn Store>("redis_store").unwrap();
        let request = tracing::info_span!("handle_request");
        request.in_scope(|| {
            store.put("k").unwrap();
            assert!(store.put("").is_err());
        });
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    let request = named(&spans, "handle_request");
    assert_eq!(request.len(), 1);
    let request = request[0];
    let puts = named(&spans, "put");
    assert_eq!(puts.len(), 2);
    for put in &puts {
        assert_eq!(put.parent_span_id, request.span_context.span_id());
        assert_eq!(put.span_context.trace_id(), request.span_context.trace_id());
        assert_eq!(
            attribute(put, "plugin.name"),
            Some(&Value::from("redis_store"))
        );
        assert_eq!(attribute(put, "plugin.kind"), Some(&Value::from("store")));
    }
    // The first call is fine, the second returned an error: its status is Error and its
    // `error.type` is the error kind.
    assert_eq!(puts[0].status, Status::Unset);
    assert!(matches!(puts[1].status, Status::Error { .. }));
    assert_eq!(attribute(puts[1], "error.type"), Some(&Value::from("full")));

    for name in ["plugin.load", "plugin.start"] {
        let step = named(&spans, name);
        assert_eq!(step.len(), 1, "{name}");
        assert_eq!(step[0].parent_span_id, SpanId::INVALID, "{name} is a root");
        assert_ne!(
            step[0].span_context.trace_id(),
            request.span_context.trace_id()
        );
        assert_eq!(
            attribute(step[0], "plugin.name"),
            Some(&Value::from("redis_store"))
        );
        assert_eq!(
            attribute(step[0], "plugin.kind"),
            Some(&Value::from("store"))
        );
    }
}

#[plugobs::plugin(kind = "store", provides = dyn Store)]
#[derive(Default)]
pub struct ShardedStore;

#[plugobs::instrumented]
impl Store for ShardedStore {
    fn put(&self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[test]
fn an_instances_operation_spans_name_the_instance() {
    let (exporter, provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([ShardedStore::DESCRIPTOR]).unwrap();

    tracing::subscriber::with_default(subscriber, || {
        let a = registry
            .load_instance_without_config::<dyn Store>("sharded_store", "shard-a")
            .unwrap();
        let b = registry
            .load_instance_without_config::<dyn Store>("sharded_store", "shard-b")
            .unwrap();
        a.put("1").unwrap();
        b.put("2").unwrap();
        b.put("3").unwrap();
        ShardedStore.put("4").unwrap(); // a value the host built: the default instance
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let instances: Vec<_> = named(&spans, "put")
        .iter()
        .map(|s| attribute(s, "plugin.instance").cloned())
        .collect();
    assert_eq!(
        instances,
        [
            Some(Value::from("shard-a")),
            Some(Value::from("shard-b")),
            Some(Value::from("shard-b")),
            Some(Value::from("sharded_store")),
        ]
    );
    for step in named(&spans, "plugin.load") {
        assert!(
            matches!(attribute(step, "plugin.instance"), Some(v) if *v == Value::from("shard-a") || *v == Value::from("shard-b")),
            "{step:?}"
        );
    }
}
