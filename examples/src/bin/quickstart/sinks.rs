//! Sinks defined in the host binary itself.
//!
//! Each struct is a plugin: `#[plugobs::plugin]` registers it at link time, and the host
//! loads every `provides = dyn Sink` plugin with `registry().load_all::<dyn Sink>()`.

use std::io::Write;

use plugobs_example_plugins::{Sink, SinkError};

/// Prints lines to standard output.
///
/// The simplest plugin: constructed with `Default`, no hooks; its name defaults to the
/// type name in snake case, `stdout_sink`.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Debug, Default)]
pub struct StdoutSink;

// Per-operation metrics: `#[plugobs::instrumented]` goes on this impl once plugobs ships it.
impl Sink for StdoutSink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        writeln!(std::io::stdout().lock(), "  stdout_sink | {line}")?;
        Ok(())
    }
}

/// Posts lines to an HTTP webhook.
///
/// Its start hook is an `async fn`. `load_all` drives it to completion on the calling
/// thread with plugobs' minimal executor, so it may await anything that only needs a
/// waker; a hook that needs a runtime's reactor (tokio timers or sockets, say) is loaded
/// with `load_all_async` from inside that runtime instead.
#[plugobs::plugin(kind = "sink", version = "2.0.1", provides = dyn Sink, start = Self::connect)]
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    session: Option<u64>,
}

impl Default for WebhookSink {
    fn default() -> Self {
        WebhookSink {
            url: "https://hooks.example.com/logs".to_owned(),
            session: None,
        }
    }
}

impl WebhookSink {
    /// Start hook (async): plugobs times it from the first poll to completion.
    async fn connect(&mut self) -> Result<(), SinkError> {
        let session = handshake(&self.url).await?;
        self.session = Some(session);
        Ok(())
    }
}

/// Stands in for an async HTTP client's handshake.
async fn handshake(url: &str) -> Result<u64, SinkError> {
    if url.starts_with("https://") {
        Ok(0x5eed)
    } else {
        Err(SinkError::Rejected(format!("{url}: only https is allowed")))
    }
}

// Per-operation metrics: `#[plugobs::instrumented]` goes on this impl once plugobs ships it.
impl Sink for WebhookSink {
    fn write(&self, _line: &str) -> Result<(), SinkError> {
        match self.session {
            // A real sink would POST the line here.
            Some(_) => Ok(()),
            None => Err(SinkError::Unavailable {
                endpoint: self.url.clone(),
                reason: "no session".to_owned(),
            }),
        }
    }
}

/// Produces lines to a Kafka topic.
///
/// No broker runs next to the quick start, so its start hook fails with "connection
/// refused". plugobs catches that: the plugin ends up `failed`, the failure is counted
/// in `plugobs_plugin_load_failures_total{stage="start",reason="error"}`, logged, and
/// returned in the load report. The other sinks load regardless.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, start = Self::connect)]
#[derive(Debug)]
pub struct KafkaSink {
    brokers: String,
    connected: bool,
}

impl Default for KafkaSink {
    fn default() -> Self {
        KafkaSink {
            brokers: "127.0.0.1:9092".to_owned(),
            connected: false,
        }
    }
}

impl KafkaSink {
    /// Start hook (sync), returning `Result<(), E>` with any `E: Display`.
    fn connect(&mut self) -> Result<(), SinkError> {
        // Simulated, so the quick start behaves the same on every machine.
        Err(SinkError::Unavailable {
            endpoint: self.brokers.clone(),
            reason: "connection refused".to_owned(),
        })
    }
}

// Per-operation metrics: `#[plugobs::instrumented]` goes on this impl once plugobs ships it.
impl Sink for KafkaSink {
    fn write(&self, _line: &str) -> Result<(), SinkError> {
        if self.connected {
            Ok(())
        } else {
            Err(SinkError::Unavailable {
                endpoint: self.brokers.clone(),
                reason: "not connected".to_owned(),
            })
        }
    }
}
