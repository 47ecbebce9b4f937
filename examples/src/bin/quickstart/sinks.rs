//! Sinks defined in the host binary itself.
//!
//! Each struct is a plugin: `#[plugobs::plugin]` registers it at link time, and the host
//! loads every `provides = dyn Sink` plugin with `registry().load_all::<dyn Sink>()`.
//! `#[plugobs::instrumented]` on each `impl Sink` makes `write` an observed operation.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plugobs_example_plugins::{Sink, SinkError};

/// Prints server errors (`status=5xx`) to standard output: the on-call console. Other
/// lines are accepted and dropped.
///
/// The simplest plugin: constructed with `Default`, no hooks; its name defaults to the
/// type name in snake case, `stdout_sink`.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Debug, Default)]
pub struct StdoutSink;

#[plugobs::instrumented]
impl Sink for StdoutSink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        if line.contains(" status=5") {
            plugobs::counter!(Self, "server_errors_printed").increment(1);
            writeln!(std::io::stdout().lock(), "  stdout_sink | {line}")?;
        }
        Ok(())
    }
}

/// Pages the on-call for server errors (`status=5xx`) through a paging API, which is down
/// for the whole quick start.
///
/// Its `page` operation has a circuit breaker, `#[instrumented(breaker(consecutive = 2))]`:
/// after two failed pages in a row it opens, and the next pages fail at once with
/// [`SinkError::BreakerOpen`] instead of waiting on a dead API. Those calls are counted
/// as `outcome="rejected"`, not as errors of the plugin; the breaker's state and trips are
/// series of their own, and the instance is `degraded` while the breaker is open.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Debug, Default)]
pub struct PagerSink;

#[plugobs::instrumented]
impl Sink for PagerSink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        if line.contains(" status=5") {
            self.page(line)?;
        }
        Ok(())
    }
}

#[plugobs::instrumented(breaker(consecutive = 2, open_for = "1m"))]
impl PagerSink {
    fn page(&self, line: &str) -> Result<(), SinkError> {
        std::hint::black_box(line);
        // Simulated, so the quick start behaves the same on every machine.
        Err(SinkError::Unavailable {
            endpoint: "https://pager.example/v2/enqueue".to_owned(),
            reason: "503 Service Unavailable".to_owned(),
        })
    }
}

/// The largest body the webhook accepts, in bytes.
const WEBHOOK_MAX_BODY: usize = 1024;

/// Posts lines to an HTTP webhook.
///
/// Its start hook is an `async fn`. `load_all` drives it to completion on the calling
/// thread with plugobs' minimal executor, so it may await anything that only needs a
/// waker; a hook that needs a runtime's reactor (tokio timers or sockets, say) is loaded
/// with `load_all_async` from inside that runtime instead.
///
/// `write` refuses lines over [`WEBHOOK_MAX_BODY`] bytes (`rejected`) and posts the rest
/// with [`post`], an async operation of its own; every 64th request times out.
///
/// Its health hook, `async fn check`, reports the plugin `degraded` once requests have
/// timed out: it still delivers, with retries.
#[plugobs::plugin(
    kind = "sink",
    version = "2.0.1",
    provides = dyn Sink,
    start = Self::connect,
    health = Self::check
)]
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    client: Option<HttpClient>,
}

impl Default for WebhookSink {
    fn default() -> Self {
        WebhookSink {
            url: "https://hooks.example.com/logs".to_owned(),
            client: None,
        }
    }
}

impl WebhookSink {
    /// Start hook (async): plugobs times it from the first poll to completion.
    async fn connect(&mut self) -> Result<(), SinkError> {
        self.client = Some(HttpClient::handshake(&self.url).await?);
        Ok(())
    }

    /// Health hook (async): `&self` only, since the instance is shared with the checker.
    async fn check(&self) -> plugobs::Health {
        let Some(client) = &self.client else {
            return plugobs::Health::unhealthy("no session");
        };
        let requests = client.requests.load(Ordering::Relaxed);
        let timeouts = requests / 64;
        if timeouts == 0 {
            return plugobs::Health::healthy();
        }
        plugobs::Health::degraded(format!(
            "{timeouts} requests timed out; delivering with retries"
        ))
        .with_detail("requests", requests)
        .with_detail("session", format!("{:x}", client.session))
    }
}

// `cpu`: each call's thread CPU time, as plugobs_plugin_cpu_seconds_total. Its objectives,
// declared in code: 99 % of writes succeed and their p99 stays under 250 ms; exported as
// plugobs_operation_objective, used by the generated alerts, shown with the error budget
// left in stats(), /plugins and the status page.
#[plugobs::instrumented(cpu, objective = "99%", latency = "250ms")]
impl Sink for WebhookSink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        plugobs::histogram!(Self, "body_bytes").record(line.len() as f64);
        let Some(client) = &self.client else {
            return Err(SinkError::Unavailable {
                endpoint: self.url.clone(),
                reason: "no session".to_owned(),
            });
        };
        if line.len() > WEBHOOK_MAX_BODY {
            return Err(SinkError::Rejected(format!(
                "{} bytes, the webhook takes at most {WEBHOOK_MAX_BODY}",
                line.len()
            )));
        }
        // The trait is sync, the HTTP client async: drive the request on this thread.
        plugobs::block_on(post(client, line))?;
        Ok(())
    }
}

/// One HTTP POST: an async operation of `webhook_sink`.
///
/// A free function has no `Self`, so `plugin = WebhookSink` says whose operation it is.
/// The call is timed from the future's first poll to its completion; a future dropped
/// before it finishes would count as `cancelled`. `body` is not recorded: arguments never
/// are, unless listed in `fields(...)`.
#[plugobs::instrumented(plugin = WebhookSink)]
async fn post(client: &HttpClient, body: &str) -> Result<u16, SinkError> {
    client.send(body).await
}

/// Stands in for an async HTTP client with a session.
#[derive(Debug)]
struct HttpClient {
    url: String,
    session: u64,
    requests: AtomicU64,
}

impl HttpClient {
    async fn handshake(url: &str) -> Result<HttpClient, SinkError> {
        if !url.starts_with("https://") {
            return Err(SinkError::Rejected(format!("{url}: only https is allowed")));
        }
        Ok(HttpClient {
            url: url.to_owned(),
            session: 0x5eed,
            requests: AtomicU64::new(0),
        })
    }

    async fn send(&self, body: &str) -> Result<u16, SinkError> {
        // Simulated, so the quick start behaves the same on every machine: every 64th
        // request times out.
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        if n % 64 == 63 {
            return Err(SinkError::Timeout {
                request: format!("POST {} (session {:x})", self.url, self.session),
                after: Duration::from_secs(2),
            });
        }
        std::hint::black_box(body);
        Ok(204)
    }
}

/// Produces lines to a Kafka topic: a *configured* plugin, run as several instances.
///
/// Its constructor takes the instance's configuration, `new = Self::from_config` with a
/// `KafkaConfig: serde::Deserialize`. The host loads one instance per table of
/// `pipeline.toml` (`[sinks.kafka-eu]`, `[sinks.kafka-us]`, …) with
/// `registry().load_instances::<dyn Sink>(…)`; each instance has its own state, health,
/// failures and operation counts, and every series carries its name as the `instance`
/// label. A table that does not fit `KafkaConfig` fails its instance with the reason
/// `config`, naming the field.
///
/// Loaded without a configuration (by `load_all`), it is the plugin's default instance,
/// built from `KafkaConfig`'s defaults: the local broker, 127.0.0.1:9092. No broker runs
/// next to the quick start, so that instance's start hook fails with "connection
/// refused", which plugobs counts in
/// `plugobs_plugin_load_failures_total{stage="start",reason="error"}`, logs and returns
/// in the load report. The other sinks load regardless.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, new = Self::from_config, start = Self::connect, objective = "99.9%")]
#[derive(Debug)]
pub struct KafkaSink {
    config: KafkaConfig,
    connected: bool,
}

/// One Kafka sink instance's configuration: a table of `pipeline.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    #[serde(default = "KafkaConfig::local_broker")]
    brokers: Vec<String>,
    /// The topic lines go to.
    #[serde(default = "KafkaConfig::default_topic")]
    topic: String,
    /// The largest message the topic accepts, in bytes; longer lines are refused.
    #[serde(default = "KafkaConfig::default_max_message_bytes")]
    max_message_bytes: u32,
}

impl KafkaConfig {
    fn local_broker() -> Vec<String> {
        vec!["127.0.0.1:9092".to_owned()]
    }
    fn default_topic() -> String {
        "logs".to_owned()
    }
    fn default_max_message_bytes() -> u32 {
        1_048_576
    }
}

impl KafkaSink {
    /// Constructor: plugobs deserializes the instance's table into `KafkaConfig` first.
    fn from_config(config: KafkaConfig) -> Result<Self, SinkError> {
        if config.brokers.is_empty() {
            return Err(SinkError::Rejected("no brokers configured".to_owned()));
        }
        Ok(KafkaSink {
            config,
            connected: false,
        })
    }

    /// Start hook (sync), returning `Result<(), E>` with any `E: Display`.
    fn connect(&mut self) -> Result<(), SinkError> {
        // A plugin's own metric from a hook: it counts for the instance being started.
        plugobs::counter!(Self, "connect_attempts").increment(1);
        // Simulated, so the quick start behaves the same on every machine: the remote
        // clusters answer, the local broker is down.
        let broker = &self.config.brokers[0];
        if broker.starts_with("127.0.0.1:") {
            return Err(SinkError::Unavailable {
                endpoint: broker.clone(),
                reason: "connection refused".to_owned(),
            });
        }
        self.connected = true;
        Ok(())
    }
}

// Each instance counts its own calls: `write` on the instance `kafka-us` is counted with
// `instance="kafka-us"`.
#[plugobs::instrumented]
impl Sink for KafkaSink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        if !self.connected {
            return Err(SinkError::Unavailable {
                endpoint: self.config.brokers[0].clone(),
                reason: "not connected".to_owned(),
            });
        }
        if line.len() > self.config.max_message_bytes as usize {
            return Err(SinkError::Rejected(format!(
                "{} bytes, topic `{}` takes at most {}",
                line.len(),
                self.config.topic,
                self.config.max_message_bytes
            )));
        }
        // The produce request's buffer, and the plugin's own metrics: inside a call on
        // `kafka-us` they are kafka-us's (`instance="kafka-us"`), bytes included.
        let message = std::hint::black_box(line.as_bytes().to_vec());
        plugobs::counter!(Self, "messages_produced").increment(1);
        plugobs::histogram!(Self, "message_bytes").record(message.len() as f64);
        Ok(())
    }
}
