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

/// Tests whose assertions are about time (a cut within its timeout, an answer within
/// 1 s) and those that run a browser hold this, so they never share the two cores with
/// each other: a bound that holds on a quiet machine should not fail because Chromium
/// started beside it.
static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`EXCLUSIVE`], from a test that is not async.
fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    EXCLUSIVE.blocking_lock()
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
    headers: hyper::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// hyper's HTTP/1.1 client, one connection per request, with reqwest's shape.
#[derive(Clone, Copy)]
struct Client;

struct Request {
    method: hyper::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        Client
    }
    fn request(self, method: hyper::Method, url: String) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn get(self, url: String) -> Request {
        self.request(hyper::Method::GET, url)
    }
    fn post(self, url: String) -> Request {
        self.request(hyper::Method::POST, url)
    }
    fn head(self, url: String) -> Request {
        self.request(hyper::Method::HEAD, url)
    }
}

impl Request {
    fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    fn body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }
}

async fn send(request: Request) -> Answer {
    use http_body_util::BodyExt as _;

    let rest = request.url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(path)
        .header("host", host);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let body = http_body_util::Full::new(hyper::body::Bytes::from(request.body));
    let response = sender
        .send_request(builder.body(body).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get(server: &ServerHandle, path: &str) -> Answer {
    send(Client::new().get(url(server, path))).await
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

/// Masks the page's "generated" time, which is the wall clock's.
fn mask_generated(page: &str) -> String {
    let open = "<time class=\"generated\">";
    match page.find(open) {
        Some(start) => {
            let from = start + open.len();
            let end = from + page[from..].find("</time>").unwrap_or(0);
            format!("{}T{}", &page[..from], &page[end..])
        }
        None => page.to_owned(),
    }
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

/// Masks, besides, what depends on the clock in a registry whose plugins ran: the values
/// of `*_timestamp_seconds` gauges and of busy ratios, as `T`.
fn mask_clock(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let series = line.split('{').next().unwrap_or("");
        let timed = !line.starts_with('#')
            && (series.ends_with("_timestamp_seconds") || series == "plugobs_plugin_busy_ratio");
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
    let twice: Vec<_> = families(text).into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        twice.is_empty(),
        "families declared twice: {twice:?}\n{text}"
    );
}

/// The `/plugins` entry of a plugin's default instance, never loaded nor called.
fn idle_plugin(name: &str, kind: &str, version: &str) -> Value {
    json!({
        "name": name, "instance": name, "kind": kind, "version": version, "state": "registered",
        "load_duration": null, "start_duration": null, "loaded_at": null,
        "failures": 0, "last_failure": null, "operations": [],
        "health": {"status": "unknown", "message": "", "details": {}, "checked_at": null,
                   "check_duration": null},
        "busy_ratio": 0.0, "custom": [], "background_cpu": null, "allocated_bytes": null, "freed_bytes": null,
    })
}

/// The body of `/plugins/{name}`: the plugin and its instances' entries.
fn plugin_view(name: &str, kind: &str, version: &str, instances: Vec<Value>) -> Value {
    json!({"name": name, "kind": kind, "version": version, "instances": instances})
}

/// The body of `/plugins/{name}` for a plugin with its default instance alone, idle.
fn idle_plugin_view(name: &str, kind: &str, version: &str) -> Value {
    plugin_view(name, kind, version, vec![idle_plugin(name, kind, version)])
}

#[tokio::test]
async fn every_route_answers_with_its_status_type_and_exact_body() {
    let registry = isolated(&[IdleSource::DESCRIPTOR, IdleSink::DESCRIPTOR]);
    let server = start(Endpoints::new().registry(registry).process_metrics(false));

    let a = get(&server, "/healthz").await;
    assert_eq!(
        (a.status, a.content_type.as_str(), a.body.as_str()),
        (200, "text/plain; charset=utf-8", "ok\n")
    );

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
            "health_rounds": {"rounds": 0, "overruns": 0, "max": null},
            "plugins": [
                idle_plugin("idle_sink", "sink", "2.3.0"),
                idle_plugin("idle_source", "source", "1.0.0"),
            ],
        })
    );

    let a = get(&server, "/plugins/idle_source").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    assert_eq!(a.json(), idle_plugin_view("idle_source", "source", "1.0.0"));

    let a = get(&server, "/plugins/kafka_sink").await;
    assert_eq!((a.status, a.content_type.as_str()), (404, JSON));
    assert_eq!(
        a.json(),
        json!({"status": 404, "error": "no plugin named `kafka_sink`"})
    );

    let a = get(&server, "/metrics").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    assert_fixture("idle_metrics.prom", &mask(&a.body));

    let a = get(&server, "/").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert_fixture("idle_page.html", &mask_generated(&a.body));
    for path in ["/", "/metrics", "/plugins", "/readyz", "/healthz"] {
        let a = get(&server, path).await;
        assert_eq!(
            a.headers.get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
    }
    server.shutdown().unwrap();
}

/// 5 ok, 3 timeouts, 2 refusals.
fn call_mix() {
    for what in [
        "a", "bb", "slow", "ccc", "closed", "slow", "dddd", "closed", "slow", "e",
    ] {
        let _ = MixedSource.pull(what);
    }
}

const MIXED_OPERATION: &str = r#"# HELP plugobs_plugin_operations_total Finished plugin operation calls, by outcome (ok, error, panic, cancelled), and calls a circuit breaker rejected without calling the plugin (rejected: operations with a breaker only).
# TYPE plugobs_plugin_operations_total counter
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",instance="mixed_source",operation="pull",outcome="ok"} 5
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",instance="mixed_source",operation="pull",outcome="error"} 5
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",instance="mixed_source",operation="pull",outcome="panic"} 0
plugobs_plugin_operations_total{plugin="mixed_source",kind="source",instance="mixed_source",operation="pull",outcome="cancelled"} 0
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

    let prometheus_accept =
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let a = send(
        Client::new()
            .get(url(&server, "/metrics"))
            .header("accept", prometheus_accept),
    )
    .await;
    assert_eq!((a.status, a.content_type.as_str()), (200, OPENMETRICS));
    assert!(a.body.ends_with("\n# EOF\n"));
    assert_fixture("mixed_metrics.om", &mask(&a.body));
    assert_no_duplicate_family(&a.body);
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// Readiness.

static SICK: AtomicBool = AtomicBool::new(false);

/// Its health hook reports unhealthy while `SICK`.
#[plugobs::plugin(kind = "source", provides = dyn Source, health = Self::check)]
#[derive(Default)]
pub struct FlakySource;

impl FlakySource {
    fn check(&self) -> plugobs::Health {
        if SICK.load(Ordering::Acquire) {
            plugobs::Health::unhealthy("upstream unreachable").with_detail("retries", 3)
        } else {
            plugobs::Health::healthy()
        }
    }
}

impl Source for FlakySource {
    fn pull(&self, what: &str) -> Result<usize, PullError> {
        Ok(what.len())
    }
}

#[tokio::test]
async fn readiness_follows_a_plugin_that_turns_unhealthy_and_recovers() {
    let registry = std::sync::Arc::new(isolated(&[FlakySource::DESCRIPTOR]));
    let server = start(Endpoints::new().registry(registry.clone()));
    let ready = json!({"ready": true, "not_ready": []});
    let not_ready = |message: &str, status: &str| {
        json!({"ready": false, "not_ready": [
            {"plugin": "flaky_source", "instance": "flaky_source", "kind": "source",
             "status": status, "message": message}
        ]})
    };
    // Nothing started: ready.
    let a = get(&server, "/readyz").await;
    assert_eq!(
        (a.status, a.content_type.as_str(), a.json()),
        (200, JSON, ready.clone())
    );

    // Started, never checked: not ready.
    let loaded = registry.load::<dyn Source>("flaky_source").unwrap();
    assert_eq!(loaded.pull("abc").unwrap(), 3);
    let a = get(&server, "/readyz").await;
    assert_eq!((a.status, a.content_type.as_str()), (503, JSON));
    assert_eq!(a.json(), not_ready("not checked yet", "unknown"));

    // Checked healthy: ready.
    registry.check_health();
    let a = get(&server, "/readyz").await;
    assert_eq!((a.status, a.json()), (200, ready.clone()));

    // Unhealthy: 503, with its message.
    SICK.store(true, Ordering::Release);
    registry.check_health();
    let a = get(&server, "/readyz").await;
    assert_eq!(
        (a.status, a.json()),
        (503, not_ready("upstream unreachable", "unhealthy"))
    );
    let a = get(&server, "/plugins/flaky_source").await;
    let health = &a.json()["instances"][0]["health"];
    assert_eq!(
        (&health["status"], &health["message"], &health["details"]),
        (
            &json!("unhealthy"),
            &json!("upstream unreachable"),
            &json!({"retries": "3"})
        )
    );
    let page = get(&server, "/").await.body;
    assert!(
        page.contains("<span class=\"ready no\">not ready</span>"),
        "{page}"
    );
    assert!(
        page.contains("data-state=\"unhealthy\" data-health=\"unhealthy\""),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"message\">upstream unreachable (retries=3)</td>"),
        "{page}"
    );

    // Recovered: ready again.
    SICK.store(false, Ordering::Release);
    registry.check_health();
    let a = get(&server, "/readyz").await;
    assert_eq!((a.status, a.json()), (200, ready));
    drop(loaded);
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// Auth.

async fn with_token(server: &ServerHandle, path: &str, token: Option<&str>) -> Answer {
    let mut request = Client::new().get(url(server, path));
    if let Some(t) = token {
        request = request.header("authorization", t);
    }
    send(request).await
}

#[tokio::test]
async fn a_bearer_token_guards_every_route_or_all_but_the_probes() {
    let token = BearerToken::new("s3cret-t0ken").unwrap();
    assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
    let registry = || isolated(&[IdleSource::DESCRIPTOR]);
    let all = start(
        Endpoints::new()
            .registry(registry())
            .bearer_token(token.clone(), AuthScope::AllRoutes),
    );
    let unauthorized = |why: &str| json!({"status": 401, "error": why});
    for path in [
        "/",
        "/metrics",
        "/plugins",
        "/plugins/idle_source",
        "/healthz",
        "/readyz",
    ] {
        let a = with_token(&all, path, None).await;
        assert_eq!((a.status, a.content_type.as_str()), (401, JSON), "{path}");
        assert_eq!(a.headers.get("www-authenticate").unwrap(), "Bearer");
        assert_eq!(
            a.json(),
            unauthorized("a bearer token is required: Authorization: Bearer …")
        );
        for wrong in [
            "Bearer s3cret-t0keN",
            "Bearer s3cret-t0ke",
            "Basic s3cret-t0ken",
            "s3cret-t0ken",
        ] {
            let a = with_token(&all, path, Some(wrong)).await;
            assert_eq!(a.status, 401, "{path} {wrong}");
        }
        let a = with_token(&all, path, Some("Bearer s3cret-t0ken")).await;
        assert_eq!(a.status, 200, "{path}");
        let a = with_token(&all, path, Some("bearer   s3cret-t0ken")).await;
        assert_eq!(a.status, 200, "{path}");
    }
    let a = with_token(&all, "/metrics", Some("Bearer nope")).await;
    assert_eq!(a.json(), unauthorized("the bearer token is not valid"));

    let views = start(
        Endpoints::new()
            .registry(registry())
            .bearer_token(token, AuthScope::AllButProbes),
    );
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(with_token(&views, probe, None).await.status, 200, "{probe}");
    }
    for path in ["/", "/metrics", "/plugins", "/plugins/idle_source"] {
        assert_eq!(with_token(&views, path, None).await.status, 401, "{path}");
        let a = with_token(&views, path, Some("Bearer s3cret-t0ken")).await;
        assert_eq!(a.status, 200, "{path}");
    }
}

#[tokio::test]
async fn without_the_token_every_path_is_401_before_routing_and_limits() {
    let token = BearerToken::new("s3cret-t0ken").unwrap();
    for scope in [AuthScope::AllRoutes, AuthScope::AllButProbes] {
        let server = start(
            Endpoints::new()
                .registry(isolated(&[IdleSource::DESCRIPTOR]))
                .body_limit(1024)
                .bearer_token(token.clone(), scope),
        );
        let client = Client::new();
        let wrong_method = |path: &str| client.post(url(&server, path));
        let too_big = |path: &str| client.get(url(&server, path)).body(vec![b'x'; 4096]);
        let unknown = client.get(url(&server, "/nope"));
        // (request, its status with the token)
        let cases = [
            (wrong_method("/metrics"), 405),
            (wrong_method("/plugins"), 405),
            (too_big("/metrics"), 413),
            (too_big("/plugins"), 413),
            (unknown, 404),
        ];
        for (request, with_token) in cases {
            let what = format!("{} {}", request.method, request.url);
            let clone = Request {
                method: request.method.clone(),
                url: request.url.clone(),
                headers: request.headers.clone(),
                body: request.body.clone(),
            };
            let a = send(request).await;
            assert_eq!(
                (a.status, a.content_type.as_str()),
                (401, JSON),
                "{scope:?} {what}"
            );
            let a = send(clone.header("authorization", "Bearer s3cret-t0ken")).await;
            assert_eq!(a.status, with_token, "{scope:?} {what}");
        }
        // The probes' paths are open under AllButProbes, whatever the method.
        let probe = send(wrong_method("/healthz")).await.status;
        match scope {
            AuthScope::AllRoutes => assert_eq!(probe, 401),
            _ => assert_eq!(probe, 405),
        }
        server.shutdown().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Refusals.

#[tokio::test]
async fn unknown_paths_wrong_methods_and_bad_requests_are_refused() {
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let server = start(Endpoints::new().registry(registry).body_limit(1024));
    let client = Client::new();

    let a = get(&server, "/nope").await;
    assert_eq!((a.status, a.content_type.as_str()), (404, JSON));
    assert_eq!(a.json(), json!({"status": 404, "error": "no such route"}));
    let a = get(&server, "/plugins/idle_source/extra").await;
    assert_eq!(a.status, 404);

    for path in ["/metrics", "/plugins", "/", "/healthz"] {
        let a = send(client.post(url(&server, path))).await;
        assert_eq!((a.status, a.content_type.as_str()), (405, JSON), "{path}");
        assert_eq!(
            a.json(),
            json!({"status": 405, "error": "method not allowed"})
        );
        assert_eq!(a.headers.get("allow").unwrap(), "GET,HEAD", "{path}");
    }
    let a = send(client.head(url(&server, "/metrics"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));

    let a = send(client.get(url(&server, "/metrics")).body(vec![b'x'; 4096])).await;
    assert_eq!((a.status, a.content_type.as_str()), (413, JSON));
    assert_eq!(
        a.json(),
        json!({"status": 413, "error": "the request body is too large"})
    );

    let a = get(&server, "/plugins/%FF%FE").await;
    assert_eq!((a.status, a.content_type.as_str()), (400, JSON));
    assert_eq!(
        a.json(),
        json!({"status": 400, "error": "the plugin name is not valid UTF-8"})
    );

    let addr = server.local_addr();
    // 400 and 431 come from the HTTP parser, before there is a request: the status line
    // and `content-length: 0`, then the connection is closed (as the README says).
    let answer = raw(addr, b"NOT A REQUEST\r\n\r\n");
    assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    assert!(answer.contains("\r\ncontent-length: 0\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    let answer = raw(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = raw(addr, big.as_bytes());
    assert_eq!(
        status_line(&answer),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{answer}"
    );
    assert!(answer.contains("\r\ncontent-length: 0\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert_eq!(
        status_line(&answer),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{answer}"
    );

    // And after all that, it still serves.
    assert_eq!(get(&server, "/healthz").await.status, 200);
    server.shutdown().unwrap();
}

#[tokio::test]
async fn hostile_clients_cannot_keep_it_from_answering() {
    let _exclusive = EXCLUSIVE.lock().await;
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let server = start(
        Endpoints::new()
            .registry(registry)
            .header_read_timeout(Duration::from_secs(1)),
    );
    let addr = server.local_addr();

    // A client that sends half a request and stalls.
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: ")
        .unwrap();
    let began = Instant::now();
    let a = get(&server, "/healthz").await;
    assert_eq!(a.status, 200);
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );

    // A burst of 1 000 malformed requests, from 8 clients at once.
    let began = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let mut refused = 0;
                for i in 0..125 {
                    let garbage = match (c + i) % 4 {
                        0 => b"\x00\x01\x02 garbage\r\n\r\n".to_vec(),
                        1 => b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
                        2 => b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
                        _ => b"GET  HTTP/1.1 /\r\n\r\n".to_vec(),
                    };
                    let answer = raw(addr, &garbage);
                    if status_line(&answer).starts_with("HTTP/1.1 4") || answer.is_empty() {
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    let refused: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(refused, 1000);
    println!("1 000 malformed requests refused in {:?}", began.elapsed());
    let began = Instant::now();
    let a = get(&server, "/metrics").await;
    assert_eq!(a.status, 200);
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );

    // The stalled client is cut off once the header timeout passes.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let cut = stalled.read_to_end(&mut rest);
    assert!(cut.is_ok(), "still open after the header timeout: {cut:?}");
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    println!("stalled client got {:?}", String::from_utf8_lossy(&rest));
    server.shutdown().unwrap();
}

#[tokio::test]
async fn shutdown_is_graceful_and_frees_the_port() {
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let server = start(Endpoints::new().registry(registry));
    let addr = server.local_addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_eq!(get(&server, "/healthz").await.status, 200);
    let began = Instant::now();
    server.shutdown().unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
    // Binding a port that is taken is a typed error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Endpoints::new().serve(port).unwrap_err();
    assert!(
        matches!(err, plugobs::http::ServeError::Bind { .. }),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Clients that pin connections: non-readers, idle connections, the cap.

/// Writes `GET {path}` requests, pipelined, on `stream` and reads nothing, until a
/// write fails (the server cut the connection) or 10 s pass. Returns how the writes
/// ended and when.
fn pipeline_without_reading(mut stream: TcpStream, path: &str) -> (std::io::ErrorKind, Instant) {
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let batch = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(100);
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(10) {
        if let Err(e) = stream.write_all(batch.as_bytes()) {
            return (e.kind(), Instant::now());
        }
    }
    (std::io::ErrorKind::TimedOut, Instant::now())
}

/// A client with a 4 KiB receive window: once it stops reading, the server's writes stall
/// after a few responses, so a test measures the write timeout rather than the time it
/// takes to fill megabytes of loopback buffers (the cut is the same either way).
async fn small_window_client(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Sends `GET {path}` on `stream` and reads one response (its head and a body of
/// `Content-Length` bytes), leaving the connection open. Returns the status line.
fn keep_alive_get(stream: &mut TcpStream, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap_or_else(|| panic!("no content-length in {head}"))
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    status_line(&head).to_owned()
}

/// Whether the server closed `stream`: its next read is the end (or a reset), within 5 s.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Whether `stream` is still open with nothing to read.
fn still_open(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0; 1];
    let open =
        matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

/// `GET /healthz` on a new connection, which must be answered within 5 s; returns how
/// long it took.
async fn timed_healthz(server: &ServerHandle) -> Duration {
    let began = Instant::now();
    let a = tokio::time::timeout(Duration::from_secs(5), get(server, "/healthz"))
        .await
        .expect("no answer within 5 s");
    assert_eq!(a.status, 200);
    began.elapsed()
}

fn was_cut(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(kind, BrokenPipe | ConnectionReset | ConnectionAborted)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_within_the_write_timeout() {
    let _exclusive = EXCLUSIVE.lock().await;
    let write_timeout = Duration::from_millis(200);
    let server = start(
        Endpoints::new()
            .registry(isolated(&[IdleSource::DESCRIPTOR]))
            .write_timeout(write_timeout),
    );
    let mut stream = small_window_client(server.local_addr()).await;
    // Served once, so the connection is the server's before the responses pile up.
    assert_eq!(keep_alive_get(&mut stream, "/metrics"), "HTTP/1.1 200 OK");
    let began = Instant::now();
    let (ended, at) = pipeline_without_reading(stream, "/metrics");
    let cut_after = at - began;
    println!("a client that reads nothing was cut {cut_after:?} after it stopped reading");
    assert!(was_cut(ended), "the writes ended with {ended:?}, not a cut");
    // The responses fill the socket buffers within milliseconds; then 200 ms with no
    // progress. A generous bound, far below the 10 s the client would keep writing.
    assert!(
        cut_after < write_timeout + Duration::from_secs(1),
        "{cut_after:?}"
    );
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_at_the_cap_do_not_keep_a_good_request_waiting() {
    let _exclusive = EXCLUSIVE.lock().await;
    let server = start(
        Endpoints::new()
            .registry(isolated(&[IdleSource::DESCRIPTOR]))
            .max_connections(8)
            .write_timeout(Duration::from_millis(200)),
    );
    let addr = server.local_addr();
    // Eight clients take every slot (each served once), then pipeline and read nothing:
    // `/healthz`, cheap to answer, so the time measured is the cut, not the CPU the
    // server spends rendering responses nobody reads until the buffers are full.
    let mut hostile = Vec::new();
    for _ in 0..8 {
        let mut stream = small_window_client(addr).await;
        assert_eq!(keep_alive_get(&mut stream, "/healthz"), "HTTP/1.1 200 OK");
        hostile.push(stream);
    }
    let writers: Vec<_> = hostile
        .into_iter()
        .map(|s| std::thread::spawn(move || pipeline_without_reading(s, "/healthz")))
        .collect();
    let took = timed_healthz(&server).await;
    println!("with 8 non-readers at a cap of 8, a good request took {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    for writer in writers {
        let (ended, _) = writer.join().unwrap();
        assert!(was_cut(ended), "a non-reader ended with {ended:?}");
    }
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_at_the_cap_make_room_for_a_good_request() {
    let _exclusive = EXCLUSIVE.lock().await;
    // The default cap of 256; 300 clients each served once and then idle, kept open.
    let server = start(Endpoints::new().registry(isolated(&[IdleSource::DESCRIPTOR])));
    let addr = server.local_addr();
    let began = Instant::now();
    let mut idle: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            assert_eq!(keep_alive_get(&mut stream, "/healthz"), "HTTP/1.1 200 OK");
            stream
        })
        .collect();
    println!("300 clients served one by one in {:?}", began.elapsed());
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        slowest = slowest.max(timed_healthz(&server).await);
    }
    println!("with 300 idle connections, the slowest of 10 good requests took {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    // The ones idle longest made room: the first 44 for the last 44 idle clients, up to
    // 10 more for the good requests. The most recent are still open.
    // (A good request's connection, once closed, may free its slot for the next one.)
    for (i, stream) in idle.iter_mut().enumerate().take(44) {
        assert!(closed_by_server(stream), "connection {i} is still open");
    }
    for (i, stream) in idle.iter_mut().enumerate().skip(54) {
        assert!(still_open(stream), "connection {i} was closed");
    }
    server.shutdown().unwrap();
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let _exclusive = exclusive();
    let idle_timeout = Duration::from_millis(200);
    let server = start(
        Endpoints::new()
            .registry(isolated(&[IdleSource::DESCRIPTOR]))
            .idle_timeout(idle_timeout),
    );
    let addr = server.local_addr();
    let mut kept_alive = TcpStream::connect(addr).unwrap();
    assert_eq!(
        keep_alive_get(&mut kept_alive, "/healthz"),
        "HTTP/1.1 200 OK"
    );
    let mut silent = TcpStream::connect(addr).unwrap();
    let began = Instant::now();
    assert!(closed_by_server(&mut kept_alive));
    assert!(closed_by_server(&mut silent));
    let took = began.elapsed();
    println!("idle connections closed after {took:?} (idle timeout {idle_timeout:?})");
    assert!(took >= idle_timeout - Duration::from_millis(50), "{took:?}");
    assert!(took < idle_timeout + Duration::from_secs(1), "{took:?}");
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// With the host's exporter, nested in the host's app.

/// Called through the process-wide registry, which the exporter renders.
#[plugobs::plugin(kind = "source", version = "3.0.0")]
#[derive(Default)]
pub struct ExportedSource;

#[plugobs::instrumented]
impl ExportedSource {
    fn pull(&self, what: &str) -> Result<usize, PullError> {
        if what.is_empty() {
            Err(PullError::Refused)
        } else {
            Ok(what.len())
        }
    }
}

#[tokio::test]
async fn with_the_hosts_exporter_every_family_appears_once() {
    let exporter = plugobs::prometheus::install().unwrap();
    metrics::counter!("host_requests_total").increment(3);
    metrics::gauge!("host_queue_depth").set(7.0);
    for what in ["a", "", "bc"] {
        let _ = ExportedSource.pull(what);
    }
    plugobs::flush(); // the bridge must not publish plugobs' families into the recorder too

    let server = start(Endpoints::new().exporter(exporter.clone()));
    let a = get(&server, "/metrics").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    assert_no_duplicate_family(&a.body);
    let lines: Vec<&str> = a.body.lines().collect();
    for want in [
        "host_requests_total 3",
        "host_queue_depth 7",
        r#"plugobs_plugin_operations_total{plugin="exported_source",kind="source",instance="exported_source",operation="pull",outcome="ok"} 2"#,
        r#"plugobs_plugin_errors_total{plugin="exported_source",kind="source",instance="exported_source",operation="pull",error_kind="refused"} 1"#,
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_threads gauge",
        "# TYPE process_start_time_seconds gauge",
        "# TYPE plugobs_plugin_operations_total counter",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in\n{}", a.body);
    }
    let families = families(&a.body);
    for f in [
        "host_requests_total",
        "host_queue_depth",
        "plugobs_plugin_operations_total",
    ] {
        assert_eq!(families.get(f), Some(&1), "{f}");
    }
    // The recorder renders the Prometheus text only: asked for OpenMetrics, it answers text.
    let a = send(
        Client::new()
            .get(url(&server, "/metrics"))
            .header("accept", "application/openmetrics-text"),
    )
    .await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    assert_no_duplicate_family(&a.body);
    server.shutdown().unwrap();
}

#[tokio::test]
async fn without_an_exporter_openmetrics_has_the_process_families_once() {
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let server = start(Endpoints::new().registry(registry));
    let a = send(
        Client::new()
            .get(url(&server, "/metrics"))
            .header("accept", "application/openmetrics-text; version=1.0.0"),
    )
    .await;
    assert_eq!((a.status, a.content_type.as_str()), (200, OPENMETRICS));
    assert_no_duplicate_family(&a.body);
    let lines: Vec<&str> = a.body.lines().collect();
    assert!(
        lines.contains(&"# TYPE process_cpu_seconds counter"),
        "{}",
        a.body
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("process_cpu_seconds_total "))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("process_resident_memory_bytes "))
    );
    assert_eq!(lines.last(), Some(&"# EOF"));
    assert_eq!(lines.iter().filter(|l| **l == "# EOF").count(), 1);
    server.shutdown().unwrap();
}

#[tokio::test]
async fn the_router_nests_in_the_hosts_app() {
    #[derive(Clone)]
    struct AppState {
        greeting: &'static str,
    }
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let app = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move { s.greeting },
            ),
        )
        .nest("/ops", Endpoints::new().registry(registry).router())
        .with_state(AppState { greeting: "hi" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new();
    let at = |path: &str| format!("http://{addr}{path}");
    let a = send(client.get(at("/hello"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, "hi"));
    let a = send(client.get(at("/ops/healthz"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    let a = send(client.get(at("/ops/plugins/idle_source"))).await;
    assert_eq!(a.json(), idle_plugin_view("idle_source", "source", "1.0.0"));
    let a = send(client.get(at("/ops"))).await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let a = send(client.get(at("/ops/metrics"))).await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    let a = send(client.get(at("/ops/nope"))).await;
    assert_eq!(a.status, 404);
    serving.abort();
}

#[tokio::test]
async fn nested_as_a_service_the_mount_point_answers_with_and_without_its_slash() {
    let registry = isolated(&[IdleSource::DESCRIPTOR]);
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .nest_service("/ops", Endpoints::new().registry(registry).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    let at = |path: &str| Client::new().get(format!("http://{addr}{path}"));
    let page = send(at("/ops")).await;
    assert_eq!(
        (page.status, page.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let slash = send(at("/ops/")).await;
    assert_eq!(
        (slash.status, slash.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    for body in [&page.body, &slash.body] {
        assert!(body.contains(r#"id="plugin-idle_source""#), "{body}");
    }
    let a = send(at("/ops/healthz")).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    // Every path under the mount is the endpoints': an unknown one is their JSON 404.
    let a = send(at("/ops/nope")).await;
    assert_eq!((a.status, a.content_type.as_str()), (404, JSON));
    assert_eq!(send(at("/hello")).await.body, "hi");
    serving.abort();
}

// ---------------------------------------------------------------------------------------
// The status page in a real browser.

#[derive(Debug)]
pub struct Unreachable;
impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot reach <broker:9092> & give up")
    }
}

/// Its start hook fails: the page lists it first.
#[plugobs::plugin(kind = "sink", version = "0.1.0", provides = dyn Source, start = Self::connect)]
#[derive(Default)]
pub struct BrokenSink;
impl BrokenSink {
    fn connect(&mut self) -> Result<(), Unreachable> {
        Err(Unreachable)
    }
}
impl Source for BrokenSink {
    fn pull(&self, _: &str) -> Result<usize, PullError> {
        Err(PullError::Refused)
    }
}

/// Runs, with calls that succeed and fail.
#[plugobs::plugin(kind = "source", version = "1.2.0", provides = dyn Source)]
#[derive(Default)]
pub struct BusySource;

#[plugobs::instrumented]
impl Source for BusySource {
    fn pull(&self, what: &str) -> Result<usize, PullError> {
        if what == "slow" {
            Err(PullError::Timeout)
        } else {
            Ok(what.len())
        }
    }
}

/// The browser `PLUGOBS_CHROMIUM` names, or the first `chromium` / `chromium-browser` on
/// `PATH` (Debian's package puts it in /usr/bin).
fn chromium() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("PLUGOBS_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// The page's DOM after Chromium loaded it.
fn dump_dom(browser: &std::path::Path, url: &str) -> String {
    // One profile per run: two tests of this binary run browsers at once, and Chromium
    // refuses a profile another instance holds (its SingletonLock).
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile =
        std::env::temp_dir().join(format!("plugobs-chromium-{}-{run}", std::process::id()));
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The value of `attr` in the tag `tag`.
fn attribute<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// The browser, or `None` when there is none: the status-page tests then say so once and
/// pass, so the README's test command needs nothing but the Rust toolchain. Where a
/// browser is required (`CI` set, or `PLUGOBS_REQUIRE_BROWSER=1`; `.ci/run` installs
/// Chromium) a missing one fails with the install instruction.
fn browser_or_skip() -> Option<std::path::PathBuf> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let browser = chromium();
    if browser.is_none() {
        let required = std::env::var_os("CI").is_some_and(|v| !v.is_empty())
            || std::env::var_os("PLUGOBS_REQUIRE_BROWSER").is_some_and(|v| v == "1");
        assert!(
            !required,
            "Chromium is needed to test the status page (CI or PLUGOBS_REQUIRE_BROWSER=1 is \
             set): `apt-get update && apt-get install -y chromium` (.ci/run does), or set \
             PLUGOBS_CHROMIUM to a browser"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: no Chromium on PATH: the status page is not tested in a browser \
                 (install Debian's `chromium`, or set PLUGOBS_CHROMIUM)"
            );
        });
    }
    browser
}

/// The page's groups, in order: each plugin (`<tbody id="plugin-…">`) with its
/// instances' rows (`<tr id="instance-…">`) as (instance, state, health).
type Groups<'a> = Vec<(&'a str, Vec<(&'a str, &'a str, &'a str)>)>;

fn groups(dom: &str) -> Groups<'_> {
    let tag = |at: usize| &dom[at..at + dom[at..].find('>').unwrap()];
    let mut groups: Groups<'_> = Vec::new();
    let mut at = 0;
    while let Some(found) = dom[at..].find(" id=\"") {
        at += found;
        let start = dom[..at].rfind('<').unwrap();
        let t = tag(start);
        if t.starts_with("<tbody id=\"plugin-") {
            groups.push((attribute(t, "data-plugin").unwrap(), Vec::new()));
        } else if t.starts_with("<tr id=\"instance-") {
            let (plugin, rows) = groups.last_mut().expect("a row outside a plugin's group");
            assert_eq!(attribute(t, "data-plugin"), Some(*plugin), "{t}");
            rows.push((
                attribute(t, "data-instance").unwrap(),
                attribute(t, "data-state").unwrap(),
                attribute(t, "data-health").unwrap(),
            ));
        }
        at += 1;
    }
    groups
}

#[test]
fn chromium_renders_one_group_per_plugin_failures_first() {
    let _exclusive = exclusive();
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let registry = isolated(&[
        BusySource::DESCRIPTOR,
        BrokenSink::DESCRIPTOR,
        IdleSink::DESCRIPTOR,
    ]);
    let report = registry.load_all::<dyn Source>();
    assert_eq!((report.loaded.len(), report.failures.len()), (1, 1));
    for what in ["a", "slow", "bc", "d"] {
        let _ = report.loaded[0].pull(what);
    }
    registry.check_health();
    let server = Endpoints::new().registry(registry).serve(0).unwrap();

    let dom = dump_dom(&browser, &format!("http://{}/", server.local_addr()));
    assert_eq!(
        groups(&dom),
        [
            ("broken_sink", vec![("broken_sink", "failed", "unknown")]),
            ("busy_source", vec![("busy_source", "running", "healthy")]),
            ("idle_sink", vec![("idle_sink", "registered", "unknown")]),
        ],
        "{dom}"
    );
    // The failure's message, escaped in the HTML, reads as written in the browser's DOM.
    assert!(
        dom.contains("last failure: start error: cannot reach &lt;broker:9092&gt; &amp; give up"),
        "{dom}"
    );
    // The running plugin's operation: 4 calls, 25 % errors, all timeouts.
    assert!(
        dom.contains("<tr data-operation=\"pull\"><td>pull</td><td class=\"num\">4</td>"),
        "{dom}"
    );
    // The breakdown by kind in a tooltip, the row on one line.
    assert!(
        dom.contains("<abbr class=\"err\" title=\"timeout 25.0%\">25.0%</abbr>"),
        "{dom}"
    );
    assert!(
        dom.contains("<span class=\"ready yes\">ready</span> · 3 plugins · 3 instances"),
        "{dom}"
    );
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// A plugin's own metrics on every surface.

/// Counts what it pulls in a custom counter with its own label.
#[plugobs::plugin(kind = "source", version = "1.1.0")]
#[derive(Default)]
pub struct CountingSource;

#[plugobs::instrumented]
impl CountingSource {
    fn pull(&self, what: &'static str) -> usize {
        plugobs::counter!(Self, "pulled", "what" => what).increment(1);
        what.len()
    }
}

#[tokio::test]
async fn a_plugins_own_metrics_are_on_plugins_the_page_and_metrics() {
    let registry = isolated(&[CountingSource::DESCRIPTOR]);
    for what in ["logs", "logs", "traces"] {
        CountingSource.pull(what);
    }
    let server = start(Endpoints::new().registry(registry).process_metrics(false));

    let a = get(&server, "/plugins/counting_source").await;
    assert_eq!(
        a.json()["instances"][0]["custom"],
        json!([
            {"name": "pulled", "labels": [["what", "logs"]], "type": "counter", "value": 2},
            {"name": "pulled", "labels": [["what", "traces"]], "type": "counter", "value": 1},
        ])
    );
    let page = get(&server, "/").await.body;
    assert!(
        page.contains("pulled{what=logs} = 2 · pulled{what=traces} = 1</div>"),
        "{page}"
    );
    let metrics = get(&server, "/metrics").await.body;
    for want in [
        "# TYPE plugobs_custom_pulled_total counter",
        r#"plugobs_custom_pulled_total{plugin="counting_source",kind="source",instance="counting_source",what="logs"} 2"#,
        r#"plugobs_custom_pulled_total{plugin="counting_source",kind="source",instance="counting_source",what="traces"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == want), "{want}\n{metrics}");
    }
}

// ---------------------------------------------------------------------------------------
// Configured instances: one plugin, two instances loaded by name, one of them with a
// configuration that does not fit.

/// The configuration of a [`ConfiguredFeed`] instance.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    batch: usize,
}

/// Built from its instance's configuration.
#[plugobs::plugin(kind = "source", version = "4.2.0", new = Self::from_config, provides = dyn Source)]
pub struct ConfiguredFeed {
    batch: usize,
}

impl ConfiguredFeed {
    fn from_config(config: FeedConfig) -> Self {
        ConfiguredFeed {
            batch: config.batch,
        }
    }
}

// Objectives declared in code: /plugins shows them with the budget left.
#[plugobs::instrumented(objective = "50%", latency = "1s")]
impl Source for ConfiguredFeed {
    fn pull(&self, what: &str) -> Result<usize, PullError> {
        if what == "slow" {
            Err(PullError::Timeout)
        } else {
            Ok(what.len() * self.batch)
        }
    }
}

const FEED_CONFIG_ERROR: &str = "at `batch`: invalid type: string \"ten\", expected usize";

/// Replaces what depends on timing with `"T"` where it is set: durations, timestamps,
/// latencies, the busy ratio. `null` stays `null`, so whether each is set stays exact.
fn timeless(value: &mut Value) {
    const TIMED: [&str; 12] = [
        "load_duration",
        "start_duration",
        "loaded_at",
        "checked_at",
        "check_duration",
        "at",
        "mean",
        "p50",
        "p90",
        "p99",
        "max",
        "busy_ratio",
    ];
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if TIMED.contains(&key.as_str()) && !v.is_null() {
                    assert!(v.is_number(), "{key}: {v}");
                    *v = json!("T");
                } else {
                    timeless(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(timeless),
        _ => {}
    }
}

/// `feed-eu`: running, healthy, 3 pulls ok and 1 timeout.
fn feed_eu() -> Value {
    json!({
        "name": "configured_feed", "instance": "feed-eu", "kind": "source", "version": "4.2.0",
        "state": "running",
        // No health hook: judged by its state, nothing ran.
        "health": {"status": "healthy", "message": "", "details": {}, "checked_at": "T",
                   "check_duration": null},
        "load_duration": "T", "start_duration": "T", "loaded_at": "T",
        "failures": 0, "last_failure": null,
        "operations": [{
            "name": "pull", "calls": 4, "ok": 3, "errors": 1, "errors_by_kind": {"timeout": 1},
            "panics": 0, "cancelled": 0, "in_flight": 0,
            "mean": "T", "p50": "T", "p90": "T", "p99": "T", "max": "T", "cpu": null,
            // 1 error in 4 calls of the 50 % it may fail: half the budget left.
            "objective": 0.5, "latency_objective": 1.0, "error_budget_left": 0.5,
            // Every call timed.
            "sampled": null, "timed_calls": 4,
            // No `#[instrumented(breaker)]`.
            "breaker": null,
            // No span context in this test: no exemplar.
            "exemplar": null,
        }],
        "busy_ratio": "T", "custom": [], "background_cpu": null, "allocated_bytes": null, "freed_bytes": null,
    })
}

/// `feed-us`: failed to load, its configuration did not fit.
fn feed_us() -> Value {
    json!({
        "name": "configured_feed", "instance": "feed-us", "kind": "source", "version": "4.2.0",
        "state": "failed",
        "health": {"status": "unknown", "message": "not running", "details": {},
                   "checked_at": null, "check_duration": null},
        // The constructor was tried: how long reading the configuration took.
        "load_duration": "T", "start_duration": null, "loaded_at": null,
        "failures": 1,
        "last_failure": {"stage": "load", "reason": "config", "message": FEED_CONFIG_ERROR,
                         "error_type": "config", "at": "T"},
        "operations": [],
        "busy_ratio": "T", "custom": [], "background_cpu": null, "allocated_bytes": null, "freed_bytes": null,
    })
}

#[tokio::test]
async fn two_instances_of_one_plugin_on_every_route() {
    let _exclusive = EXCLUSIVE.lock().await;
    let registry = std::sync::Arc::new(isolated(&[
        ConfiguredFeed::DESCRIPTOR,
        IdleSink::DESCRIPTOR,
    ]));
    let eu = registry
        .load_instance::<dyn Source>("configured_feed", "feed-eu", json!({"batch": 2}))
        .unwrap();
    assert_eq!(eu.instance(), "feed-eu");
    for what in ["a", "slow", "bc", "def"] {
        let _ = eu.pull(what);
    }
    let err = registry
        .load_instance::<dyn Source>("configured_feed", "feed-us", json!({"batch": "ten"}))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "instance `feed-us` of plugin `configured_feed` failed to load: {FEED_CONFIG_ERROR}"
        )
    );
    registry.check_health();
    let server = start(
        Endpoints::new()
            .registry(registry.clone())
            .process_metrics(false),
    );

    // The plugin and both its instances, in name order.
    let a = get(&server, "/plugins/configured_feed").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    let mut body = a.json();
    timeless(&mut body);
    assert_eq!(
        body,
        plugin_view(
            "configured_feed",
            "source",
            "4.2.0",
            vec![feed_eu(), feed_us()]
        )
    );

    // A configured instance's name: its plugin with that instance alone.
    for (instance, entry) in [("feed-eu", feed_eu()), ("feed-us", feed_us())] {
        let a = get(&server, &format!("/plugins/{instance}")).await;
        assert_eq!(
            (a.status, a.content_type.as_str()),
            (200, JSON),
            "{instance}"
        );
        let mut body = a.json();
        timeless(&mut body);
        assert_eq!(
            body,
            plugin_view("configured_feed", "source", "4.2.0", vec![entry])
        );
    }
    // A name no plugin and no instance has, even one that looks like an instance's.
    for name in ["feed-ap", "feed", "configured"] {
        let a = get(&server, &format!("/plugins/{name}")).await;
        assert_eq!((a.status, a.content_type.as_str()), (404, JSON), "{name}");
        assert_eq!(
            a.json(),
            json!({"status": 404, "error": format!("no plugin named `{name}`")})
        );
    }

    // `/plugins`: one entry per instance, grouped by plugin; the default instance of
    // `configured_feed`, never used, is not one.
    let a = get(&server, "/plugins").await;
    let mut stats = a.json();
    stats["discovery_duration"].take();
    timeless(&mut stats);
    let mut idle = idle_plugin("idle_sink", "sink", "2.3.0");
    idle["busy_ratio"] = json!("T");
    assert_eq!(
        stats,
        json!({
            "total": 2,
            "by_kind": {"sink": 1, "source": 1},
            "by_state": {"registered": 1, "loaded": 0, "running": 1, "degraded": 0,
                         "unhealthy": 0, "stopped": 0, "failed": 1},
            "health": {"healthy": 1, "degraded": 0, "unhealthy": 0, "unknown": 2},
            "total_errors": 2,
            "total_calls": 4,
            "discovery_duration": null,
            "health_rounds": {"rounds": 0, "overruns": 0, "max": null},
            "plugins": [feed_eu(), feed_us(), idle],
        })
    );

    // `/metrics`: the instances' own series.
    let a = get(&server, "/metrics").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS));
    let lines: Vec<&str> = a.body.lines().collect();
    for want in [
        r#"plugobs_plugin_operations_total{plugin="configured_feed",kind="source",instance="feed-eu",operation="pull",outcome="ok"} 3"#,
        r#"plugobs_plugin_operations_total{plugin="configured_feed",kind="source",instance="feed-eu",operation="pull",outcome="error"} 1"#,
        r#"plugobs_plugin_operations_total{plugin="configured_feed",kind="source",instance="feed-eu",operation="pull",outcome="panic"} 0"#,
        r#"plugobs_plugin_errors_total{plugin="configured_feed",kind="source",instance="feed-eu",operation="pull",error_kind="timeout"} 1"#,
        r#"plugobs_plugin_load_failures_total{plugin="configured_feed",kind="source",instance="feed-us",stage="load",reason="config"} 1"#,
        r#"plugobs_plugin_info{plugin="configured_feed",kind="source",version="4.2.0"} 1"#,
    ] {
        assert!(lines.contains(&want), "missing `{want}` in\n{}", a.body);
    }
    assert!(
        !a.body.contains(r#"instance="configured_feed""#),
        "the unused default instance is exported:\n{}",
        a.body
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(r#"instance="feed-us",operation="#)),
        "feed-us never ran an operation:\n{}",
        a.body
    );
    assert_no_duplicate_family(&a.body);
    assert_fixture("instances_metrics.prom", &mask_clock(&mask(&a.body)));

    // The page: both instances under their plugin, the failed one first, with the
    // configuration's error; then the idle sink.
    let a = get(&server, "/").await;
    let page = a.body;
    assert_eq!(
        groups(&page),
        [
            (
                "configured_feed",
                vec![
                    ("feed-us", "failed", "unknown"),
                    ("feed-eu", "running", "healthy")
                ]
            ),
            ("idle_sink", vec![("idle_sink", "registered", "unknown")]),
        ],
        "{page}"
    );
    for want in [
        "<span class=\"ready yes\">ready</span> · 2 plugins · 3 instances · registered 1 · running 1 · failed 1 · 4 calls · 2 errors · generated <time class=\"generated\">",
        "<tbody id=\"plugin-configured_feed\" class=\"plugin\" data-plugin=\"configured_feed\" data-instances=\"2\">",
        "<td class=\"plugin\" rowspan=\"2\"><div class=\"name\">configured_feed</div><div class=\"meta\">source 4.2.0</div></td><td class=\"instance\"><div class=\"name\">feed-us</div></td>",
        "<td class=\"instance\"><div class=\"name\">feed-eu</div></td>",
        "<td class=\"message\">not running; last failure: load config: at `batch`: invalid type: string &quot;ten&quot;, expected usize</td>",
        // Its objectives declared in code, with the budget left: 1 error in 4 calls of
        // the 50 % allowed.
        "<tr data-operation=\"pull\"><td>pull<div class=\"objective\" title=\"objectives declared in code; the error budget over every call so far\">50% ok · p99 ≤ 1s · budget 50% left</div></td><td class=\"num\">4</td><td><abbr class=\"err\" title=\"timeout 25.0%\">25.0%</abbr></td>",
    ] {
        assert!(page.contains(want), "missing `{want}` in\n{page}");
    }
    // feed-eu's row has the operation, feed-us's has none.
    let row = |instance: &str| {
        let start = page
            .find(&format!("<tr id=\"instance-{instance}\""))
            .unwrap();
        let end = start + page[start..].find("</td></tr>\n").unwrap();
        &page[start..end]
    };
    assert!(row("feed-eu").contains("data-operation=\"pull\""));
    assert!(row("feed-us").contains("<span class=\"none\">none called</span>"));

    // And as a browser renders it.
    if let Some(browser) = browser_or_skip() {
        let dom = dump_dom(&browser, &url(&server, "/"));
        assert_eq!(groups(&dom), groups(&page), "{dom}");
        assert!(
            dom.contains("last failure: load config: at `batch`: invalid type: string \"ten\", expected usize"),
            "{dom}"
        );
    }
    drop(eu);
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// History: a point per interval, served as JSON and drawn on the page.

#[derive(Debug, plugobs::ErrorKind)]
pub enum WriteError {
    Timeout,
}

#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct HistorySink;

#[plugobs::instrumented]
impl HistorySink {
    fn write(&self, fail: bool) -> Result<(), WriteError> {
        if fail {
            Err(WriteError::Timeout)
        } else {
            Ok(())
        }
    }
}

/// 15 minutes of traffic, a point every 10 s taken at the test's own times: 10 good
/// calls per interval, and 5 timeouts more in each interval of minutes 3 and 4.
fn fifteen_minutes(registry: &Registry, t0: std::time::SystemTime) {
    let sink = HistorySink;
    // Where the history starts; it falls off the ring as the 91st point comes in.
    registry.record_history(t0);
    for i in 0..90u32 {
        for _ in 0..10 {
            sink.write(false).unwrap();
        }
        if (18..30).contains(&i) {
            for _ in 0..5 {
                sink.write(true).unwrap_err();
            }
        }
        registry.record_history(t0 + Duration::from_secs(10) * (i + 1));
    }
}

#[tokio::test]
async fn the_history_holds_each_interval_and_the_page_draws_the_burst_where_it_happened() {
    let registry: &'static Registry = Box::leak(Box::new(isolated(&[HistorySink::DESCRIPTOR])));
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    fifteen_minutes(registry, t0);
    let server = start(Endpoints::new().registry(registry).process_metrics(false));

    let a = get(&server, "/plugins/history_sink/history").await;
    assert_eq!((a.status, a.content_type.as_str()), (200, JSON));
    let mut body = a.json();
    // Latencies depend on the machine: present where there were calls, masked here.
    for point in body["instances"][0]["operations"][0]["points"]
        .as_array_mut()
        .unwrap()
    {
        for q in ["p50", "p99"] {
            assert!(point[q].is_f64(), "{point}");
            point[q] = json!("T");
        }
    }
    let points: Vec<Value> = (0..90u64)
        .map(|i| {
            let burst = (18..30).contains(&i);
            json!({
                "at": (1_800_000_000 + 10 * (i + 1)) as f64,
                "calls": if burst { 15 } else { 10 },
                "errors": if burst { 5 } else { 0 },
                "errors_by_kind": if burst { json!({"timeout": 5}) } else { json!({}) },
                "p50": "T",
                "p99": "T",
            })
        })
        .collect();
    let health: Vec<Value> = (0..90u64)
        .map(|i| json!({"at": (1_800_000_000 + 10 * (i + 1)) as f64, "status": "unknown"}))
        .collect();
    assert_eq!(
        body,
        json!({
            "name": "history_sink",
            "instances": [{
                "name": "history_sink",
                "instance": "history_sink",
                "kind": "sink",
                "interval": 10.0,
                "health": health,
                "operations": [{"name": "write", "points": points}],
            }],
        })
    );
    assert_eq!(get(&server, "/plugins/nope/history").await.status, 404);

    // The page: the error ratio's line is up exactly in minutes 3 and 4 (slots 18 to 29 of
    // 90, a pixel each, the newest at the right edge) and on its axis elsewhere.
    let page = get(&server, "/").await.body;
    let trend = &page[page.find("data-trend=\"write\"").expect("the write trend")..];
    let series = |name: &str| -> Vec<(f64, f64)> {
        let svg = &trend[trend.find(&format!("data-series=\"{name}\"")).unwrap()..];
        let points = &svg[svg.find("points=\"").unwrap() + 8..];
        points[..points.find('"').unwrap()]
            .split(' ')
            .map(|xy| {
                let (x, y) = xy.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    };
    let errors = series("error_ratio");
    assert_eq!(errors.len(), 90);
    let axis = errors[0].1;
    for (slot, (x, y)) in errors.iter().enumerate() {
        assert_eq!(*x, slot as f64 + 0.5);
        if (18..30).contains(&slot) {
            // 5 of 15 calls, the highest ratio: the top of the plot.
            assert_eq!(axis - y, 16.0, "slot {slot}");
        } else {
            assert_eq!(*y, axis, "slot {slot}");
        }
    }
    // The call rate: 1.5/s in the burst, 1/s elsewhere (2/3 of the plot's height).
    let rate = series("call_rate");
    assert!((axis - rate[20].1 - 16.0).abs() < 0.06, "{:?}", rate[20]);
    assert!(
        (axis - rate[40].1 - 16.0 * 2.0 / 3.0).abs() < 0.06,
        "{:?}",
        rate[40]
    );
    assert!(
        trend.contains(">1.0/s</text>"),
        "the latest rate is labelled"
    );
    // The page says when it was made, and reloads itself when asked (within 5..=3600 s).
    assert!(
        page.contains(" · generated <time class=\"generated\">"),
        "{page}"
    );
    assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
    for (query, seconds) in [
        ("?refresh=1", 5),
        ("?refresh=60", 60),
        ("?refresh=99999", 3600),
    ] {
        let page = get(&server, &format!("/{query}")).await.body;
        assert!(
            page.contains(&format!(
                "<meta http-equiv=\"refresh\" content=\"{seconds}\">"
            )),
            "{query}"
        );
        assert!(
            page.contains(&format!(", reloads every {seconds} s</p>")),
            "{query}"
        );
    }
    let page = get(&server, "/?refresh=soon").await.body;
    assert!(!page.contains("http-equiv=\"refresh\""));
    server.shutdown().unwrap();
}
