//! Exemplars (feature `exemplars`): a timed call that ends inside a host span with an
//! OpenTelemetry context (tracing-opentelemetry into the SDK's in-memory exporter) keeps
//! that span's trace id as the exemplar of its bucket; none without a context; at most
//! one per bucket per interval; the OpenMetrics text carrying them passes a strict parser
//! written here and Prometheus' own OpenMetrics parser (promtool), and the Prometheus text
//! format carries none.
//!
//! The settings are process-wide: the tests take turns (`SETTINGS`), and use an interval
//! of an hour (nothing due twice) or zero (everything due) rather than sleeping.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use plugobs::exemplars;
use plugobs::exposition::{self, Format};
use plugobs::{Plugin, Registry};
use tracing_subscriber::layer::SubscriberExt as _;

pub trait Store: Send + Sync {
    fn put(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum StoreError {
    Full,
}

// A plugin per test: call sites, and the exemplars they keep, are process-wide.
macro_rules! store {
    ($name:ident) => {
        #[plugobs::plugin(kind = "store", provides = dyn Store)]
        #[derive(Default)]
        pub struct $name;

        #[plugobs::instrumented]
        impl Store for $name {
            fn put(&self, key: &str) -> Result<(), StoreError> {
                if key.is_empty() {
                    Err(StoreError::Full)
                } else {
                    Ok(())
                }
            }
        }
    };
}
store!(TracedStore);
store!(SwitchedStore);
store!(CheckedStore);
store!(LinkedStore);
store!(ShardedStore);

#[async_trait::async_trait]
pub trait Lookup: Send + Sync {
    async fn get(&self, key: &str) -> Option<u64>;
}

#[plugobs::plugin(kind = "lookup", provides = dyn Lookup)]
#[derive(Default)]
pub struct TracedLookup;

#[async_trait::async_trait]
#[plugobs::instrumented]
impl Lookup for TracedLookup {
    async fn get(&self, key: &str) -> Option<u64> {
        Some(key.len() as u64)
    }
}

/// The exemplar settings are process-wide: one test at a time changes them.
static SETTINGS: Mutex<()> = Mutex::new(());

fn settings() -> std::sync::MutexGuard<'static, ()> {
    let guard = SETTINGS.lock().unwrap_or_else(|e| e.into_inner());
    exemplars::enable();
    exemplars::set_interval(Duration::from_secs(3600));
    exemplars::set_max_age(exemplars::DEFAULT_MAX_AGE);
    guard
}

/// tracing spans as OpenTelemetry spans kept in memory.
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

fn finished(exporter: &InMemorySpanExporter, provider: &SdkTracerProvider) -> Vec<SpanData> {
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn span_named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name}: {found:?}");
    found[0]
}

fn trace_id(span: &SpanData) -> u128 {
    u128::from_be_bytes(span.span_context.trace_id().to_bytes())
}

fn span_id(span: &SpanData) -> u64 {
    u64::from_be_bytes(span.span_context.span_id().to_bytes())
}

/// Every exemplar in the OpenMetrics text of `registry`: (trace id, span id).
fn exemplars_in(registry: &Registry) -> Vec<(u128, u64)> {
    by_bucket(registry).into_values().collect()
}

/// Every exemplar in the OpenMetrics text of `registry`, by its bucket's `le` (one
/// operation per registry here).
fn by_bucket(registry: &Registry) -> std::collections::BTreeMap<String, (u128, u64)> {
    let text = exposition::render(registry, Format::OpenMetrics);
    let parsed = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    parsed
        .iter()
        .filter_map(|s| {
            let e = s.exemplar.as_ref()?;
            let le = s.labels.iter().find(|(n, _)| n == "le")?.1.clone();
            Some((
                le,
                (
                    u128::from_str_radix(&e.labels["trace_id"], 16).unwrap(),
                    u64::from_str_radix(&e.labels["span_id"], 16).unwrap(),
                ),
            ))
        })
        .collect()
}

#[test]
fn calls_inside_a_host_span_keep_its_trace_id_at_most_once_per_bucket_per_interval() {
    let _settings = settings();
    let (exporter, provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([TracedStore::DESCRIPTOR]).unwrap();

    tracing::subscriber::with_default(subscriber, || {
        let store = registry.load::<dyn Store>("traced_store").unwrap();
        // No span: nothing kept, however many calls.
        for _ in 0..20 {
            store.put("k").unwrap();
        }
        assert_eq!(exemplars_in(&registry), []);
        // The first request's calls: one exemplar per bucket they landed in, its trace.
        tracing::info_span!("first_request").in_scope(|| {
            for _ in 0..50 {
                store.put("k").unwrap();
            }
            assert!(store.put("").is_err());
        });
        let first_by_bucket = by_bucket(&registry);
        let first = exemplars_in(&registry);
        // The second request's calls that land in buckets claimed within the interval
        // leave nothing: those buckets keep the first request's exemplar. (A call slow
        // enough to land in a bucket the first request did not reach may keep its own.)
        tracing::info_span!("second_request").in_scope(|| {
            for _ in 0..50 {
                store.put("k").unwrap();
            }
        });
        let second_by_bucket = by_bucket(&registry);
        for (le, ids) in &first_by_bucket {
            assert_eq!(second_by_bucket.get(le), Some(ids), "bucket le={le}");
        }
        // With no interval, the next call's bucket takes the third request's trace.
        exemplars::set_interval(Duration::ZERO);
        tracing::info_span!("third_request").in_scope(|| store.put("k").unwrap());

        let spans = finished(&exporter, &provider);
        let first_span = span_named(&spans, "first_request");
        let third_span = span_named(&spans, "third_request");
        assert!(!first.is_empty());
        // Distinct buckets: at most one each, all the first request's (a sync call ends
        // after its own span is exited: the span id is the host's).
        assert!(first.len() <= 17, "{first:?}");
        assert_eq!(
            first.iter().collect::<BTreeSet<_>>().len(),
            1,
            "every exemplar is the first request's span: {first:?}"
        );
        assert_eq!(first[0], (trace_id(first_span), span_id(first_span)));
        let second_span = span_named(&spans, "second_request");
        let second = (trace_id(second_span), span_id(second_span));
        for (le, ids) in &second_by_bucket {
            if !first_by_bucket.contains_key(le) {
                assert_eq!(*ids, second, "bucket le={le}, new in the second request");
            }
        }
        let now = exemplars_in(&registry);
        assert!(
            now.contains(&(trace_id(third_span), span_id(third_span))),
            "{now:?}"
        );

        // stats(): the slowest recent exemplar of the operation is one of those.
        let stats = registry.stats();
        let op = &stats.plugins[0].operations[0];
        let slowest = op.exemplar.as_ref().expect("an exemplar in stats");
        let ids: BTreeSet<String> = now.iter().map(|(t, _)| format!("{t:032x}")).collect();
        assert!(ids.contains(&slowest.trace_id), "{slowest:?} {ids:?}");
        assert_eq!(slowest.link, None);
    });
}

#[test]
fn an_async_call_keeps_its_own_span_id_and_nothing_without_a_context() {
    let _settings = settings();
    exemplars::set_interval(Duration::ZERO);
    let (exporter, provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([TracedLookup::DESCRIPTOR]).unwrap();
    let lookup = registry.load::<dyn Lookup>("traced_lookup").unwrap();

    // Spans, but no OpenTelemetry layer: no context, nothing kept.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        tracing::info_span!("request")
            .in_scope(|| assert_eq!(plugobs::block_on(lookup.get("abc")), Some(3)));
    });
    assert_eq!(exemplars_in(&registry), []);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request")
            .in_scope(|| assert_eq!(plugobs::block_on(lookup.get("abcd")), Some(4)));
        let spans = finished(&exporter, &provider);
        let request = span_named(&spans, "request");
        // The operation's own span (polled inside it), child of the request.
        let gets: Vec<_> = spans
            .iter()
            .filter(|s| s.name == "get" && s.parent_span_id == request.span_context.span_id())
            .collect();
        assert_eq!(gets.len(), 1, "{spans:?}");
        assert_eq!(
            exemplars_in(&registry),
            [(trace_id(request), span_id(gets[0]))]
        );
    });
}

#[test]
fn off_keeps_nothing_and_old_exemplars_age_out() {
    let _settings = settings();
    exemplars::set_interval(Duration::ZERO);
    let (_exporter, _provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([SwitchedStore::DESCRIPTOR]).unwrap();

    tracing::subscriber::with_default(subscriber, || {
        let store = registry.load::<dyn Store>("switched_store").unwrap();
        exemplars::disable();
        tracing::info_span!("request").in_scope(|| store.put("k").unwrap());
        assert_eq!(exemplars_in(&registry), []);
        exemplars::enable();
        tracing::info_span!("request").in_scope(|| store.put("k").unwrap());
        assert_eq!(exemplars_in(&registry).len(), 1);
        // Older than the age: not exposed, not in stats.
        exemplars::set_max_age(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(exemplars_in(&registry), []);
        assert_eq!(registry.stats().plugins[0].operations[0].exemplar, None);
    });
}

#[test]
fn the_openmetrics_text_is_valid_and_the_prometheus_text_has_no_exemplar() {
    let _settings = settings();
    exemplars::set_interval(Duration::ZERO);
    let (_exporter, _provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([CheckedStore::DESCRIPTOR]).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let store = registry.load::<dyn Store>("checked_store").unwrap();
        tracing::info_span!("request").in_scope(|| {
            for i in 0..100 {
                store.put(if i % 10 == 0 { "" } else { "k" }).ok();
            }
        });
    });
    let text = exposition::render(&registry, Format::OpenMetrics);
    let samples = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let with_exemplar = samples.iter().filter(|s| s.exemplar.is_some()).count();
    assert!(with_exemplar >= 1, "{text}");
    let prometheus = exposition::render(&registry, Format::Prometheus);
    assert!(!prometheus.contains(" # {"), "{prometheus}");

    promtool::check_openmetrics(&text);
    promtool::check_metrics(&prometheus);
}

#[test]
fn each_instance_shows_its_own_calls_exemplars() {
    let _settings = settings();
    exemplars::set_interval(Duration::ZERO);
    let (exporter, provider, subscriber) = in_memory();
    let registry = Registry::from_descriptors([ShardedStore::DESCRIPTOR]).unwrap();
    // Loaded (and kept running) outside the subscriber's scope: only the calls need it.
    let eu = registry
        .load_instance_without_config::<dyn Store>("sharded_store", "eu")
        .unwrap();
    let us = registry
        .load_instance_without_config::<dyn Store>("sharded_store", "us")
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("eu_request").in_scope(|| eu.put("k").unwrap());
        tracing::info_span!("us_request").in_scope(|| us.put("k").unwrap());
    });
    let spans = finished(&exporter, &provider);
    let text = exposition::render(&registry, Format::OpenMetrics);
    let samples = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for (instance, request) in [("eu", "eu_request"), ("us", "us_request")] {
        let trace = format!("{:032x}", trace_id(span_named(&spans, request)));
        let kept: Vec<&str> = samples
            .iter()
            .filter(|s| {
                s.labels
                    .iter()
                    .any(|(n, v)| n == "instance" && v == instance)
            })
            .filter_map(|s| Some(s.exemplar.as_ref()?.labels["trace_id"].as_str()))
            .collect();
        assert_eq!(kept, [trace.as_str()], "instance {instance}:\n{text}");
    }
}

/// `GET path` on a server on loopback: (head, body).
fn http_get(server: &plugobs::http::ServerHandle, path: &str, accept: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn plugins_the_page_and_metrics_show_the_exemplar_with_its_link() {
    let _settings = settings();
    exemplars::set_interval(Duration::ZERO);
    let (exporter, provider, subscriber) = in_memory();
    let registry =
        std::sync::Arc::new(Registry::from_descriptors([LinkedStore::DESCRIPTOR]).unwrap());
    tracing::subscriber::with_default(subscriber, || {
        let store = registry.load::<dyn Store>("linked_store").unwrap();
        tracing::info_span!("request").in_scope(|| store.put("k").unwrap());
    });
    let spans = finished(&exporter, &provider);
    let trace = format!("{:032x}", trace_id(span_named(&spans, "request")));
    let server = plugobs::http::Endpoints::new()
        .registry(registry.clone())
        .process_metrics(false)
        .trace_link("http://tempo.example/trace/{trace_id}")
        .serve(0)
        .unwrap();

    // Chunked or not, the JSON is in the body: find the operation's exemplar in it.
    let (_, body) = http_get(&server, "/plugins", "application/json");
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    let json: serde_json::Value = serde_json::from_str(&body[start..=end]).unwrap();
    let exemplar = &json["plugins"][0]["operations"][0]["exemplar"];
    assert_eq!(exemplar["trace_id"], serde_json::json!(trace), "{json}");
    assert_eq!(
        exemplar["link"],
        serde_json::json!(format!("http://tempo.example/trace/{trace}"))
    );
    assert!(exemplar["latency"].as_f64().unwrap() > 0.0);

    let (_, page) = http_get(&server, "/", "text/html");
    assert!(
        page.contains(&format!(
            "<a class=\"exemplar\" data-trace-id=\"{trace}\" href=\"http://tempo.example/trace/{trace}\""
        )),
        "{page}"
    );

    let (head, metrics) = http_get(
        &server,
        "/metrics",
        "application/openmetrics-text; version=1.0.0",
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("application/openmetrics-text"),
        "{head}"
    );
    assert!(
        metrics.contains(&format!("# {{trace_id=\"{trace}\",span_id=\"")),
        "{metrics}"
    );
    let (_, text) = http_get(&server, "/metrics", "text/plain");
    assert!(text.contains("plugobs_plugin_operation_duration_seconds_bucket"));
    assert!(!text.contains("trace_id"), "{text}");
    server.shutdown().unwrap();
}

#[test]
fn the_strict_parser_refuses_what_openmetrics_forbids() {
    let good = "# HELP x_seconds Latency.\n# TYPE x_seconds histogram\n# UNIT x_seconds seconds\n\
        x_seconds_bucket{le=\"0.005\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.0043 1733130000.123\n\
        x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 0.01\nx_seconds_count 3\n# EOF\n";
    assert_eq!(openmetrics::parse(good).unwrap().len(), 4);
    let bad: &[(&str, &str)] = &[
        ("no # EOF", good.trim_end_matches("# EOF\n")),
        (
            "an exemplar on _sum",
            &good.replace(
                "x_seconds_sum 0.01",
                "x_seconds_sum 0.01 # {trace_id=\"1\"} 1",
            ),
        ),
        (
            "an exemplar above its bucket",
            &good.replace("} 0.0043 ", "} 0.0051 "),
        ),
        (
            "exemplar labels over 128 characters",
            &good.replace("span_id=", &format!("{}=\"x\",span_id=", "l".repeat(100))),
        ),
        ("no space before the exemplar", &good.replace(" # {", "# {")),
        ("a bad label name", &good.replace("span_id=", "span-id=")),
        (
            "a decreasing bucket",
            &good.replace("+Inf\"} 3", "+Inf\"} 2"),
        ),
        ("a bad number", &good.replace("_sum 0.01", "_sum 0,01")),
    ];
    for (what, text) in bad {
        assert!(
            openmetrics::parse(text).is_err(),
            "accepted {what}:\n{text}"
        );
    }
}

/// promtool, where it is installed (CI requires it: `PLUGOBS_REQUIRE_PROMTOOL=1`).
mod promtool {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    fn available() -> bool {
        let found = Command::new("promtool")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("PLUGOBS_REQUIRE_PROMTOOL").is_none(),
                "PLUGOBS_REQUIRE_PROMTOOL is set but promtool is not on PATH"
            );
            println!("SKIPPED: promtool is not on PATH (Debian's prometheus package has it)");
        }
        found
    }

    fn run(args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = Command::new("promtool")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `promtool check metrics`: the Prometheus text format (the parser promtool's
    /// `check metrics` has; it reads no OpenMetrics).
    pub(super) fn check_metrics(text: &str) {
        if !available() {
            return;
        }
        let out = run(&["check", "metrics"], text);
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Prometheus' own OpenMetrics parser, exemplars included: `promtool tsdb
    /// create-blocks-from openmetrics`, which wants a timestamp on every sample, so one is
    /// written after each sample's value (the exemplars are left as rendered).
    pub(super) fn check_openmetrics(text: &str) {
        if !available() {
            return;
        }
        let stamped: String = text
            .lines()
            .map(|line| {
                if line.starts_with('#') {
                    return format!("{line}\n");
                }
                let (sample, exemplar) = match line.find(" # ") {
                    Some(i) => line.split_at(i),
                    None => (line, ""),
                };
                format!("{sample} 1733130000.000{exemplar}\n")
            })
            .collect();
        let dir = std::env::temp_dir().join(format!("plugobs-om-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("metrics.om");
        std::fs::write(&input, &stamped).unwrap();
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(dir.join("blocks"))
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "promtool tsdb create-blocks-from openmetrics: {}{}\n{stamped}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A strict reader of the OpenMetrics 1.0 text that plugobs writes: every line is a
/// `# HELP`, `# TYPE` or `# UNIT` of the family its samples follow, or a sample
/// `name{labels} value[ # {labels} value[ timestamp]]`; the text ends with `# EOF`.
/// Exemplars only on a histogram's `_bucket` or a counter's `_total`, their labels at most
/// 128 characters; a bucket's exemplar value within its bucket; cumulative buckets that
/// never decrease, ending in `+Inf` equal to `_count`.
mod openmetrics {
    use std::collections::BTreeMap;

    #[derive(Debug)]
    pub(super) struct Exemplar {
        pub(super) labels: BTreeMap<String, String>,
        pub(super) value: f64,
    }

    #[derive(Debug)]
    pub(super) struct Sample {
        pub(super) name: String,
        pub(super) labels: Labels,
        pub(super) value: f64,
        pub(super) exemplar: Option<Exemplar>,
    }

    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    fn is_label_name(s: &str) -> bool {
        is_name(s) && !s.contains(':')
    }

    fn number(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ if s
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) =>
            {
                s.parse().map_err(|_| format!("not a number: {s:?}"))
            }
            _ => Err(format!("not a number: {s:?}")),
        }
    }

    /// `{a="x",b="y"}` at the start of `s`: the pairs and the rest of `s`.
    type Labels = Vec<(String, String)>;

    fn label_set(s: &str) -> Result<(Labels, &str), String> {
        let mut rest = s.strip_prefix('{').ok_or("expected {")?;
        let mut out = Vec::new();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        loop {
            let eq = rest.find('=').ok_or("expected =")?;
            let name = &rest[..eq];
            if !is_label_name(name) {
                return Err(format!("bad label name {name:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("expected \"")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, c) => value.push(c),
                }
            };
            if out.iter().any(|(n, _)| n == name) {
                return Err(format!("label {name} twice"));
            }
            out.push((name.to_owned(), value));
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix('}') {
                return Ok((out, r));
            }
            rest = rest.strip_prefix(',').ok_or("expected , or }")?;
        }
    }

    fn sample(line: &str) -> Result<Sample, String> {
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value: {line:?}"))?;
        let name = &line[..name_end];
        if !is_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            label_set(&line[name_end..])?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let rest = rest.strip_prefix(' ').ok_or("expected a space")?;
        let (value_part, exemplar_part) = match rest.split_once(" # ") {
            Some((v, e)) => (v, Some(e)),
            None => (rest, None),
        };
        if value_part.contains('#') {
            return Err(format!("an exemplar must follow ` # `: {line:?}"));
        }
        let mut fields = value_part.split(' ');
        let value = number(fields.next().ok_or("no value")?)?;
        if let Some(ts) = fields.next() {
            number(ts)?;
        }
        if fields.next().is_some() {
            return Err(format!("trailing fields: {line:?}"));
        }
        let exemplar = match exemplar_part {
            None => None,
            Some(e) => {
                let (pairs, rest) = label_set(e)?;
                let chars: usize = pairs
                    .iter()
                    .map(|(n, v)| n.chars().count() + v.chars().count())
                    .sum();
                if chars > 128 {
                    return Err(format!("exemplar labels of {chars} characters, over 128"));
                }
                let mut fields = rest.strip_prefix(' ').ok_or("expected a space")?.split(' ');
                let value = number(fields.next().ok_or("no exemplar value")?)?;
                if let Some(ts) = fields.next() {
                    number(ts)?;
                }
                if fields.next().is_some() {
                    return Err(format!("trailing exemplar fields: {line:?}"));
                }
                Some(Exemplar {
                    labels: pairs.into_iter().collect(),
                    value,
                })
            }
        };
        Ok(Sample {
            name: name.to_owned(),
            labels,
            value,
            exemplar,
        })
    }

    /// Parses and checks `text`; the samples, in order.
    pub(super) fn parse(text: &str) -> Result<Vec<Sample>, String> {
        let body = text
            .strip_suffix("# EOF\n")
            .ok_or("the text does not end with `# EOF`")?;
        let mut families: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = Vec::new();
        for line in body.lines() {
            if let Some(meta) = line.strip_prefix("# ") {
                let mut parts = meta.splitn(3, ' ');
                let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if !is_name(name) {
                    return Err(format!("bad family name in {line:?}"));
                }
                match kind {
                    "TYPE" => {
                        let t = parts.next().unwrap_or("");
                        if !matches!(
                            t,
                            "counter"
                                | "gauge"
                                | "histogram"
                                | "summary"
                                | "stateset"
                                | "info"
                                | "gaugehistogram"
                                | "unknown"
                        ) {
                            return Err(format!("bad type {t:?}"));
                        }
                        if families.insert(name.to_owned(), t.to_owned()).is_some() {
                            return Err(format!("family {name} twice"));
                        }
                        current = Some((name.to_owned(), t.to_owned()));
                    }
                    "HELP" | "UNIT" => {}
                    _ => return Err(format!("unknown comment {line:?}")),
                }
                continue;
            }
            if line.is_empty() {
                return Err("an empty line".into());
            }
            let s = sample(line)?;
            let (family, kind) = current.as_ref().ok_or("a sample before any # TYPE")?;
            let suffix = s
                .name
                .strip_prefix(family.as_str())
                .ok_or_else(|| format!("{} is not of family {family}", s.name))?;
            let allowed: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            if !allowed.contains(&suffix) {
                return Err(format!("{} in a {kind} family", s.name));
            }
            if s.exemplar.is_some() && !matches!(suffix, "_bucket" | "_total") {
                return Err(format!("an exemplar on {}", s.name));
            }
            samples.push(s);
        }
        check_histograms(&samples)?;
        Ok(samples)
    }

    /// Cumulative buckets, `+Inf` = `_count`, exemplars inside their bucket.
    fn check_histograms(samples: &[Sample]) -> Result<(), String> {
        // The last bucket seen: (family, labels but `le`, its le, its count).
        let mut previous: Option<(String, Labels, f64, f64)> = None;
        for s in samples {
            let Some(family) = s.name.strip_suffix("_bucket") else {
                if let Some(family) = s.name.strip_suffix("_count")
                    && let Some((f, labels, _, count)) = &previous
                    && f == family
                    && *labels == s.labels
                    && *count != s.value
                {
                    return Err(format!("{} is not its +Inf bucket", s.name));
                }
                continue;
            };
            let le = s
                .labels
                .iter()
                .find(|(n, _)| n == "le")
                .ok_or("a bucket without le")?;
            let le = number(&le.1)?;
            let series: Vec<_> = s
                .labels
                .iter()
                .filter(|(n, _)| n != "le")
                .cloned()
                .collect();
            let lower = match &previous {
                Some((f, labels, prev_le, prev_count)) if f == family && *labels == series => {
                    if s.value < *prev_count {
                        return Err(format!("bucket le={le} decreases"));
                    }
                    *prev_le
                }
                _ => f64::NEG_INFINITY,
            };
            if let Some(e) = &s.exemplar
                && !(e.value > lower && e.value <= le)
            {
                return Err(format!(
                    "exemplar {} outside bucket ({lower}, {le}]",
                    e.value
                ));
            }
            previous = Some((family.to_owned(), series, le, s.value));
        }
        Ok(())
    }
}
