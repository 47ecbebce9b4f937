//! The HTTP endpoints (feature `http`), against a real server on a free loopback port and
//! a real HTTP client: every route's status, content type and body, readiness, auth,
//! refusals, hostile clients, `/metrics` exact and free of duplicate families, and the
//! status page as headless Chromium renders it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugobs::http::{AuthScope, BearerToken, Endpoints, ServerHandle};
use plugobs::{Plugin, Registry};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Plugins. Call sites are per function, so each test has plugins of its own.

pub trait Source: Send + Sync {
    fn pull(&self, what: &str) -> Result<usize, PullError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum PullError {
    Timeout,
    Refused,
}
impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Never loaded, never called: everything about it is fixed.
#[plugobs::plugin(kind = "source", version = "1.0.0")]
#[derive(Default)]
pub struct IdleSource;

/// Never loaded, never called.
#[plugobs::plugin(kind = "sink", version = "2.3.0")]
#[derive(Default)]
pub struct IdleSink;

/// Called with a fixed mix: 5 ok, 3 timeouts, 2 refusals.
#[plugobs::plugin(kind = "source", version = "0.9.0")]
#[derive(Default)]
pub struct MixedSource;

#[plugobs::instrumented]
impl MixedSource {
    fn pull(&self, what: &str) -> Result<usize, PullError> {
        match what {
            "slow" => Err(PullError::Timeout),
            "closed" => Err(PullError::Refused),
            _ => Ok(what.len()),
        }
    }
}

fn isolated(descriptors: &[&'static plugobs::PluginDescriptor]) -> Registry {
    Registry::from_descriptors(descriptors.iter().copied()).unwrap()
}

fn start(endpoints: Endpoints) -> ServerHandle {
    endpoints.serve(0).unwrap()
}

fn url(server: &ServerHandle, path: &str) -> String {
    format!("http://{}{path}", server.local_addr())
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        headers,
        body: response.text().await.unwrap(),
    }
}

async fn get(server: &ServerHandle, path: &str) -> Answer {
    send(reqwest::Client::new().get(url(server, path))).await
}

/// Writes `bytes` on a fresh connection and reads the answer until the server closes it
/// (or 5 s pass).
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

const JSON: &str = "application/json";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// ---------------------------------------------------------------------------------------

/// Asserts `actual` is the reviewed text in `tests/fixtures/{name}`;
/// `PLUGOBS_UPDATE_FIXTURES=1` rewrites the file instead, after a deliberate change.
fn assert_fixture(name: &str, actual: &str) {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("PLUGOBS_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(actual == expected, "{path} differs; got:\n{actual}");
}

/// Masks what depends on timing: the values of duration histogram buckets below
/// `+Inf` and of their `_sum`, as `T`. Counts, `+Inf` buckets and everything else stay.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let timed = !line.starts_with('#')
            && line.contains("_duration_seconds")
            && (line.contains("_sum") || (line.contains("_bucket") && !line.contains("+Inf")));
        match line.rsplit_once(' ') {
            Some((series, _)) if timed => {
                out.push_str(series);
                out.push_str(" T");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The families of an exposition, by `# TYPE` line, with how often each is declared.
fn families(text: &str) -> BTreeMap<&str, usize> {
    let mut seen = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or("");
            *seen.entry(name).or_insert(0) += 1;
        }
    }
    seen
}

fn assert_no_duplicate_family(text: &str) {
    let twice: Vec<_> = families(text)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "families declared twice: {twice:?}\n{text}");
}

const IDLE_METRICS: &str = r#"# HELP plugobs_plugin_info Registered plugins, always 1, with their kind and version.
# TYPE plugobs_plugin_info gauge
plugobs_plugin_info{plugin="idle_sink",kind="sink",version="2.3.0"} 1
plugobs_plugin_info{plugin="idle_source",kind="source",version="1.0.0"} 1
# HELP plugobs_plugins Number of plugins in each lifecycle state.
# TYPE plugobs_plugins gauge
plugobs_plugins{state="registered"} 2
plugobs_plugins{state="loaded"} 0
plugobs_plugins{state="running"} 0
plugobs_plugins{state="degraded"} 0
plugobs_plugins{state="unhealthy"} 0
plugobs_plugins{state="stopped"} 0
plugobs_plugins{state="failed"} 0
# HELP plugobs_discovery_duration_seconds Time to discover the registered plugins and build the registry.
# TYPE plugobs_discovery_duration_seconds histogram
plugobs_discovery_duration_seconds_bucket{le="0.001"} T
plugobs_discovery_duration_seconds_bucket{le="0.0025"} T
plugobs_discovery_duration_seconds_bucket{le="0.005"} T
plugobs_discovery_duration_seconds_bucket{le="0.01"} T
plugobs_discovery_duration_seconds_bucket{le="0.025"} T
plugobs_discovery_duration_seconds_bucket{le="0.05"} T
plugobs_discovery_duration_seconds_bucket{le="0.1"} T
plugobs_discovery_duration_seconds_bucket{le="0.25"} T
plugobs_discovery_duration_seconds_bucket{le="0.5"} T
plugobs_discovery_duration_seconds_bucket{le="1"} T
plugobs_discovery_duration_seconds_bucket{le="2.5"} T
plugobs_discovery_duration_seconds_bucket{le="5"} T
plugobs_discovery_duration_seconds_bucket{le="10"} T
plugobs_discovery_duration_seconds_bucket{le="+Inf"} 1
plugobs_discovery_duration_seconds_sum T
plugobs_discovery_duration_seconds_count 1
# HELP plugobs_plugin_load_failures_total Plugin lifecycle steps that failed, by stage (load, start, stop) and reason (error, panic, cancelled).
# TYPE plugobs_plugin_load_failures_total counter
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="load",reason="error"} 0
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="load",reason="panic"} 0
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="load",reason="cancelled"} 0
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="start",reason="error"} 0
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="start",reason="panic"} 0
plugobs_plugin_load_failures_total{plugin="idle_sink",kind="sink",stage="start",reason="cancelled"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="load",reason="error"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="load",reason="panic"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="load",reason="cancelled"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="start",reason="error"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="start",reason="panic"} 0
plugobs_plugin_load_failures_total{plugin="idle_source",kind="source",stage="start",reason="cancelled"} 0
"#;

fn idle_plugin(name: &str, kind: &str, version: &str) -> Value {
    json!({
        "name": name, "kind": kind, "version": version, "state": "registered",
        "load_duration": null, "start_duration": null, "loaded_at": null,
        "failures": 0, "last_failure": null, "operations": [],
    })
}

#[tokio::test]
async fn every_route_answers_with_its_status_type_and_exact_body() {
    let registry = isolated(&[IdleSource::DESCRIPTOR, IdleSink::DESCRIPTOR]);
    let server = start(Endpoints::new().registry(registry).process_metrics(false));

    let a = get(&server, "/healthz").await;
    assert_eq!((a.status, a.content_type.as_str(), a.body.as_str()), (200, "text/plain; charset=utf-8", "ok\n"));

    let a = get(&server, "/readyz").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    assert_eq!(a.json(), json!({"ready": true, "not_ready": []}));

    let a = get(&server, "/plugins").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    let mut stats = a.json();
    let discovery = stats["discovery_duration"].take();
    assert!(discovery.as_f64().is_some_and(|s| s > 0.0), "{discovery}");
    assert_eq!(
        stats,
        json!({
            "total": 2,
            "by_kind": {"sink": 1, "source": 1},
            "by_state": {"registered": 2, "loaded": 0, "running": 0, "degraded": 0,
                         "unhealthy": 0, "stopped": 0, "failed": 0},
            "health": {"healthy": 0, "degraded": 0, "unhealthy": 0, "unknown": 2},
            "total_errors": 0,
            "total_calls": 0,
            "discovery_duration": null,
            "plugins": [
                idle_plugin("idle_sink", "sink", "2.3.0"),
                idle_plugin("idle_source", "source", "1.0.0"),
            ],
        })
    );

    let a = get(&server, "/plugins/idle_source").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    assert_eq!(a.json(), idle_plugin("idle_source", "source", "1.0.0"));

    let a = get(&server, "/plugins/kafka_sink").await;
    assert_eq!((a.status, a.content_type.as_str()), (404, JSON));
    assert_eq!(a.json(), json!({"status": 404, "error": "no plugin named `kafka_sink`"}));

    let a = get(&server, "/metrics").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    assert_eq!(mask(&a.body), IDLE_METRICS);

    let a = get(&server, "/").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert_fixture("idle_page.html", &a.body);
    for path in ["/", "/metrics", "/plugins", "/readyz", "/healthz"] {
        let a = get(&server, path).await;
        assert_eq!(a.headers.get("cache-control").unwrap(), "no-store", "{path}");
    }
    server.shutdown().unwrap();
}

/// 5 ok, 3 timeouts, 2 refusals.
fn call_mix() {
    for what in ["a", "bb", "slow", "ccc", "closed", "slow", "dddd", "closed", "slow", "e"] {
        let _ = MixedSource.pull(what);
    }
}

const MIXED_OPERATION: &str = r#"# HELP plugobs_plugin_operations_total Finished plugin operation calls, by outcome (ok, error, panic, cancelled).
# TYPE plugobs_plugin_operations_total counter
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",operation="pull",outcome="ok"} 5
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",operation="pull",outcome="error"} 5
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",operation="pull",outcome="panic"} 0
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",operation="pull",outcome="cancelled"} 0
"#;

#[tokio::test]
async fn metrics_are_exact_for_a_fixed_call_mix_in_both_formats() {
    let registry = isolated(&[MixedSource::DESCRIPTOR]);
    call_mix();
    let server = start(Endpoints::new().registry(registry).process_metrics(false));

    let a = get(&server, "/metrics").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    let text = mask(&a.body);
    assert!(text.contains(MIXED_OPERATION), "{text}");
    assert_fixture("mixed_metrics.prom", &text);
    assert_no_duplicate_family(&a.body);

    let prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let a = send(reqwest::Client::new().get(url(&server, "/metrics")).header("accept", prometheus_accept)).await;
    assert_eq!((a.status, a.content_type.as_str()), (200, OPENMETRICS));
    assert!(a.body.ends_with("\n# EOF\n"));
    assert_fixture("mixed_metrics.om", &mask(&a.body));
    assert_no_duplicate_family(&a.body);
    server.shutdown().unwrap();
}
