//! Plugins that live in their own crate, as they would in a real plugin system.
//!
//! This crate defines the traits the quick-start host loads plugins as ([`Sink`] and
//! [`Enricher`]), their error types, and two plugins: [`GeoIpEnricher`] and [`S3Sink`].
//! `#[plugobs::plugin]` registers them at link time through `inventory`;
//! `#[plugobs::instrumented]` makes their methods observed operations; and
//! `#[derive(plugobs::ErrorKind)]` gives each error variant its `error_kind` label.
//! Nothing here calls plugobs by hand.
//!
//! A host that depends on a crate like this one must *reference* it, or the linker may
//! drop it and its plugins silently vanish:
//!
//! ```ignore
//! use plugobs_example_plugins as _;
//! plugobs::registry().expect_plugins(&["geo_ip_enricher", "s3_sink"])?;
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The traits plugins are loaded as.
// ---------------------------------------------------------------------------------------

/// Writes log lines somewhere.
pub trait Sink: Send + Sync {
    /// Writes one line.
    ///
    /// # Errors
    /// When the destination is unreachable or refuses the line.
    fn write(&self, line: &str) -> Result<(), SinkError>;
}

/// Adds fields to a log line.
pub trait Enricher: Send + Sync {
    /// Returns `line` with this enricher's fields appended.
    ///
    /// # Errors
    /// When the line lacks what the enricher needs.
    fn enrich(&self, line: &str) -> Result<String, EnrichError>;
}

/// Why a [`Sink`] could not write (or start).
///
/// `#[derive(plugobs::ErrorKind)]` names each variant's `error_kind` label (snake case:
/// `unavailable`, `rejected`, `timeout`, `io`), so `plugobs_plugin_errors_total` tells a
/// timeout from a refused line without ever putting a message in a label.
#[derive(Debug, plugobs::ErrorKind)]
#[non_exhaustive]
pub enum SinkError {
    /// The destination could not be reached.
    Unavailable {
        /// Where the sink tried to connect.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The destination refused the line.
    Rejected(String),
    /// The destination did not answer in time.
    Timeout {
        /// What timed out, e.g. `PUT s3://bucket/key`.
        request: String,
        /// How long the sink waited.
        after: Duration,
    },
    /// Local I/O failed.
    Io(std::io::Error),
    /// The operation's circuit breaker is open: the call was not made.
    BreakerOpen(plugobs::BreakerOpen),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Unavailable { endpoint, reason } => {
                write!(f, "cannot reach {endpoint}: {reason}")
            }
            SinkError::Rejected(why) => write!(f, "line rejected: {why}"),
            SinkError::Timeout { request, after } => {
                write!(f, "{request}: no answer after {after:?}")
            }
            SinkError::Io(e) => write!(f, "i/o error: {e}"),
            SinkError::BreakerOpen(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        SinkError::Io(e)
    }
}

/// What an operation with `#[instrumented(breaker)]` returns while its breaker is open.
impl From<plugobs::BreakerOpen> for SinkError {
    fn from(e: plugobs::BreakerOpen) -> Self {
        SinkError::BreakerOpen(e)
    }
}

/// Why an [`Enricher`] could not enrich a line (or be constructed).
///
/// Its `error_kind` labels, from the derive: `missing_field`, `malformed`, `config`.
#[derive(Debug, Clone, PartialEq, Eq, plugobs::ErrorKind)]
#[non_exhaustive]
pub enum EnrichError {
    /// The line has no field this enricher reads.
    MissingField(&'static str),
    /// The field is there but its value cannot be used.
    Malformed {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The enricher's configuration is invalid.
    Config(String),
}

impl fmt::Display for EnrichError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrichError::MissingField(field) => write!(f, "the line has no `{field}` field"),
            EnrichError::Malformed { field, value } => {
                write!(f, "`{field}={value}` is not valid")
            }
            EnrichError::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for EnrichError {}

// ---------------------------------------------------------------------------------------
// The plugins.
// ---------------------------------------------------------------------------------------

/// Adds `geo=<country>` from the line's `ip=` field.
///
/// No `new = ...` and no hooks: plugobs constructs it with `Default` and it is running as
/// soon as it is loaded. `version` is the plugin's own version (the `version` label of
/// `plugobs_plugin_info`); without it, the crate's version is used.
#[plugobs::plugin(kind = "enricher", version = "1.4.0", provides = dyn Enricher)]
#[derive(Debug)]
pub struct GeoIpEnricher {
    /// A toy GeoIP database: address prefix -> ISO country code.
    prefixes: Vec<(&'static str, &'static str)>,
}

impl Default for GeoIpEnricher {
    fn default() -> Self {
        GeoIpEnricher {
            prefixes: vec![("10.", "private"), ("81.2.", "GB"), ("89.160.", "SE")],
        }
    }
}

// Every method of this impl is an operation: `enrich` gets calls by outcome, latency,
// in-flight and errors by kind, labelled plugin="geo_ip_enricher", kind="enricher",
// instance="geo_ip_enricher", operation="enrich". The line itself is never recorded.
#[plugobs::instrumented]
impl Enricher for GeoIpEnricher {
    fn enrich(&self, line: &str) -> Result<String, EnrichError> {
        let ip = field(line, "ip").ok_or(EnrichError::MissingField("ip"))?;
        if ip.parse::<IpAddr>().is_err() {
            return Err(EnrichError::Malformed {
                field: "ip",
                value: ip.to_owned(),
            });
        }
        let country = self
            .prefixes
            .iter()
            .find(|(prefix, _)| ip.starts_with(prefix))
            .map_or("unknown", |(_, country)| country);
        // The plugin's own metric: labelled plugin="geo_ip_enricher", kind="enricher",
        // instance="geo_ip_enricher" for it, plus its own bounded `result` label.
        let result = if country == "unknown" { "miss" } else { "hit" };
        plugobs::counter!(Self, "lookups", "result" => result).increment(1);
        Ok(format!("{line} geo={country}"))
    }
}

/// How many lines [`S3Sink`] buffers before it uploads them as one object.
pub const S3_BATCH_LINES: usize = 100;

/// Batches lines and uploads them to an S3 bucket, [`S3_BATCH_LINES`] per object.
///
/// Its start hook signs in and checks the bucket (simulated with a short sleep, so the
/// start time shows in `plugobs_plugin_start_duration_seconds`); its stop hook uploads
/// what is still buffered. The second upload times out (simulated, so the quick start
/// behaves the same everywhere); the batch stays buffered and the next write retries it.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, start = Self::connect, stop = Self::upload)]
#[derive(Debug)]
pub struct S3Sink {
    bucket: String,
    connected: bool,
    /// Lines waiting for the next upload. `Sink::write` takes `&self`, so interior
    /// mutability it is.
    pending: Mutex<Vec<String>>,
    /// Upload attempts so far.
    attempts: AtomicU32,
    /// Objects uploaded so far.
    uploaded: AtomicU32,
}

impl Default for S3Sink {
    fn default() -> Self {
        S3Sink {
            bucket: "s3://plugobs-quickstart/logs".to_owned(),
            connected: false,
            pending: Mutex::new(Vec::new()),
            attempts: AtomicU32::new(0),
            uploaded: AtomicU32::new(0),
        }
    }
}

// Lifecycle hooks. plugobs times these itself (load, start, stop); they are not
// operations, so this impl has no `#[instrumented]`.
impl S3Sink {
    /// Start hook: plugobs times it and records `loaded -> running` (or `-> failed`).
    fn connect(&mut self) -> Result<(), SinkError> {
        thread::sleep(Duration::from_millis(15)); // credentials + HEAD bucket
        self.connected = true;
        Ok(())
    }

    /// Stop hook: uploads what is left. plugobs times it as `plugin_stop_duration_seconds`;
    /// the upload inside is a `put_object` operation like any other.
    fn upload(&mut self) -> Result<(), SinkError> {
        self.put_batch()?;
        self.connected = false;
        Ok(())
    }
}

// Operations that are not part of a trait are instrumented the same way.
#[plugobs::instrumented]
impl S3Sink {
    /// Uploads the buffered lines as one object; returns how many it uploaded.
    ///
    /// `name`: the operation is called after the S3 request, `put_object`, not after the
    /// method. `level = "info"`: its span shows in INFO logs. `err`: a failed upload is
    /// logged as an ERROR event with the error's message, even though `write` swallows it.
    #[instrumented(name = "put_object", level = "info", err)]
    fn put_batch(&self) -> Result<usize, SinkError> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_empty() {
            return Ok(0);
        }
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let key = format!("{}/{attempt:05}.log", self.bucket);
        thread::sleep(Duration::from_millis(2)); // PUT object
        if attempt == 2 {
            return Err(SinkError::Timeout {
                request: format!("PUT {key}"),
                after: Duration::from_secs(5),
            });
        }
        let lines = pending.len();
        pending.clear();
        plugobs::gauge!(Self, "pending_lines").set(0.0);
        self.uploaded.fetch_add(1, Ordering::Relaxed);
        Ok(lines)
    }

    /// How many lines wait for the next upload. A cheap accessor, not worth an operation:
    /// `skip` leaves it exactly as written.
    #[instrumented(skip)]
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many objects were uploaded.
    #[instrumented(skip)]
    pub fn uploaded(&self) -> u32 {
        self.uploaded.load(Ordering::Relaxed)
    }
}

#[plugobs::instrumented]
impl Sink for S3Sink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        if !self.connected {
            return Err(SinkError::Unavailable {
                endpoint: self.bucket.clone(),
                reason: "not connected".to_owned(),
            });
        }
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.push(line.to_owned());
            plugobs::gauge!(Self, "pending_lines").set(pending.len() as f64);
            pending.len() >= S3_BATCH_LINES
        };
        if full {
            // A failed upload keeps the batch for the next write to retry. The line is
            // buffered either way, so `write` succeeds; `put_object`'s own metrics and its
            // `err` event record the failure.
            let _ = self.put_batch();
        }
        Ok(())
    }
}

/// The value of `key=value` in a space-separated log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

#[cfg(test)]
mod tests {
    use plugobs::ErrorKind;

    use super::*;

    #[test]
    fn geo_ip_enriches_known_prefixes_and_refuses_lines_without_a_valid_ip() {
        let geo = GeoIpEnricher::default();
        assert_eq!(
            geo.enrich("GET / ip=81.2.69.160").unwrap(),
            "GET / ip=81.2.69.160 geo=GB"
        );
        assert_eq!(
            geo.enrich("GET / ip=1.1.1.1").unwrap(),
            "GET / ip=1.1.1.1 geo=unknown"
        );
        let missing = geo.enrich("GET /").unwrap_err();
        assert_eq!(missing, EnrichError::MissingField("ip"));
        assert_eq!(missing.error_kind(), "missing_field");
        let malformed = geo.enrich("GET / ip=-").unwrap_err();
        assert_eq!(malformed.to_string(), "`ip=-` is not valid");
        assert_eq!(malformed.error_kind(), "malformed");
    }

    #[test]
    fn s3_sink_buffers_only_once_connected_and_retries_a_timed_out_upload() {
        let mut s3 = S3Sink::default();
        assert_eq!(s3.write("x").unwrap_err().error_kind(), "unavailable");
        s3.connect().unwrap();
        for _ in 0..S3_BATCH_LINES {
            s3.write("x").unwrap();
        }
        assert_eq!((s3.pending(), s3.uploaded()), (0, 1));
        for _ in 0..S3_BATCH_LINES {
            s3.write("x").unwrap(); // the second upload times out: the batch stays
        }
        assert_eq!((s3.pending(), s3.uploaded()), (S3_BATCH_LINES, 1));
        s3.write("x").unwrap(); // retried
        assert_eq!((s3.pending(), s3.uploaded()), (0, 2));
        s3.write("x").unwrap();
        s3.upload().unwrap();
        assert_eq!((s3.pending(), s3.uploaded()), (0, 3));
    }
}
