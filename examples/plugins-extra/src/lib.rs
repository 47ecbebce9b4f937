//! Plugins that live in their own crate, as they would in a real plugin system.
//!
//! This crate defines the traits the quick-start host loads plugins as ([`Sink`] and
//! [`Enricher`]), their error types, and two plugins: [`GeoIpEnricher`] and [`S3Sink`].
//! `#[plugobs::plugin]` registers them at link time through `inventory`; nothing here
//! calls plugobs at run time.
//!
//! A host that depends on a crate like this one must *reference* it, or the linker may
//! drop it and its plugins silently vanish:
//!
//! ```ignore
//! use plugobs_example_plugins as _;
//! plugobs::registry().expect_plugins(&["geo_ip_enricher", "s3_sink"])?;
//! ```

use std::fmt;
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
#[derive(Debug)]
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
    /// Local I/O failed.
    Io(std::io::Error),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Unavailable { endpoint, reason } => {
                write!(f, "cannot reach {endpoint}: {reason}")
            }
            SinkError::Rejected(why) => write!(f, "line rejected: {why}"),
            SinkError::Io(e) => write!(f, "i/o error: {e}"),
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

/// Why an [`Enricher`] could not enrich a line (or be constructed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnrichError {
    /// The line has no field this enricher reads.
    MissingField(&'static str),
    /// The enricher's configuration is invalid.
    Config(String),
}

impl fmt::Display for EnrichError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrichError::MissingField(field) => write!(f, "the line has no `{field}` field"),
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

// Per-operation metrics: `#[plugobs::instrumented]` goes on this impl once plugobs ships it.
impl Enricher for GeoIpEnricher {
    fn enrich(&self, line: &str) -> Result<String, EnrichError> {
        let ip = field(line, "ip").ok_or(EnrichError::MissingField("ip"))?;
        let country = self
            .prefixes
            .iter()
            .find(|(prefix, _)| ip.starts_with(prefix))
            .map_or("unknown", |(_, country)| country);
        Ok(format!("{line} geo={country}"))
    }
}

/// Batches lines and uploads them to an S3 bucket.
///
/// Its start hook signs in and checks the bucket (simulated with a short sleep, so the
/// start time shows in `plugobs_plugin_start_duration_seconds`); its stop hook uploads
/// what is still buffered.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, start = Self::connect, stop = Self::upload)]
#[derive(Debug)]
pub struct S3Sink {
    bucket: String,
    connected: bool,
    /// Lines waiting for the next upload. `Sink::write` takes `&self`, so interior
    /// mutability it is.
    pending: Mutex<Vec<String>>,
}

impl Default for S3Sink {
    fn default() -> Self {
        S3Sink {
            bucket: "s3://plugobs-quickstart/logs".to_owned(),
            connected: false,
            pending: Mutex::new(Vec::new()),
        }
    }
}

impl S3Sink {
    /// Start hook: plugobs times it and records `loaded -> running` (or `-> failed`).
    fn connect(&mut self) -> Result<(), SinkError> {
        thread::sleep(Duration::from_millis(15)); // credentials + HEAD bucket
        self.connected = true;
        Ok(())
    }

    /// Stop hook: flushes the batch. plugobs times it as `plugin_stop_duration_seconds`.
    fn upload(&mut self) -> Result<(), SinkError> {
        let batch = std::mem::take(
            self.pending
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if !batch.is_empty() {
            thread::sleep(Duration::from_millis(5)); // PUT object
        }
        self.connected = false;
        Ok(())
    }

    /// How many lines wait for the next upload.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

// Per-operation metrics: `#[plugobs::instrumented]` goes on this impl once plugobs ships it.
impl Sink for S3Sink {
    fn write(&self, line: &str) -> Result<(), SinkError> {
        if !self.connected {
            return Err(SinkError::Unavailable {
                endpoint: self.bucket.clone(),
                reason: "not connected".to_owned(),
            });
        }
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
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
    use super::*;

    #[test]
    fn geo_ip_enriches_known_prefixes_and_refuses_lines_without_ip() {
        let geo = GeoIpEnricher::default();
        assert_eq!(
            geo.enrich("GET / ip=81.2.69.160").unwrap(),
            "GET / ip=81.2.69.160 geo=GB"
        );
        assert_eq!(
            geo.enrich("GET / ip=1.1.1.1").unwrap(),
            "GET / ip=1.1.1.1 geo=unknown"
        );
        assert_eq!(geo.enrich("GET /"), Err(EnrichError::MissingField("ip")));
    }

    #[test]
    fn s3_sink_buffers_only_once_connected() {
        let mut s3 = S3Sink::default();
        assert!(s3.write("x").is_err());
        s3.connect().unwrap();
        s3.write("x").unwrap();
        assert_eq!(s3.pending(), 1);
        s3.upload().unwrap();
        assert_eq!(s3.pending(), 0);
    }
}
