//! An exemplar: one call that landed in a latency bucket, and the trace it belonged to.
//!
//! Kept by the hot path (see `core::exemplar`, feature `exemplars`), carried by the
//! OpenMetrics exposition on the bucket's `_bucket` line, and shown per operation (the
//! slowest recent one) in `stats()`, `/plugins` and the status page.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One timed call and the OpenTelemetry trace it ran in.
///
/// ```
/// use plugobs_runtime::exemplars::Exemplar;
/// let e = Exemplar {
///     trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
///     span_id: 0x00f067aa0ba902b7,
///     value_nanos: 4_300_000,
///     unix_nanos: 1_733_130_000_123_000_000,
/// };
/// assert_eq!(e.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(e.span_id_hex(), "00f067aa0ba902b7");
/// assert_eq!(e.seconds(), 0.0043);
/// assert_eq!(e.timestamp_seconds(), 1733130000.123);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exemplar {
    /// The trace id (W3C: 16 bytes, big-endian), never 0.
    pub trace_id: u128,
    /// The id of the span current when the call ended (8 bytes, big-endian).
    pub span_id: u64,
    /// The call's latency, in nanoseconds.
    pub value_nanos: u64,
    /// When the call ended, in nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
}

impl Exemplar {
    /// The trace id as 32 lowercase hex digits, as Jaeger, Tempo and W3C write it.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The call's latency in seconds.
    pub fn seconds(&self) -> f64 {
        self.value_nanos as f64 / 1e9
    }

    /// When the call ended, in seconds since the Unix epoch (millisecond precision: the
    /// precision OpenMetrics timestamps are commonly read with).
    pub fn timestamp_seconds(&self) -> f64 {
        (self.unix_nanos / 1_000_000) as f64 / 1e3
    }

    /// When the call ended.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos)
    }

    /// Whether it is older than `max_age` at `now_unix_nanos` (nanoseconds since the Unix
    /// epoch).
    pub fn is_older_than(&self, max_age: Duration, now_unix_nanos: u64) -> bool {
        u128::from(now_unix_nanos.saturating_sub(self.unix_nanos)) > max_age.as_nanos()
    }

    /// `link` with every `{trace_id}` replaced by the trace id and every `{span_id}` by
    /// the span id (hex): a link to the trace in Jaeger, Tempo or another viewer.
    ///
    /// ```
    /// # use plugobs_runtime::exemplars::Exemplar;
    /// let e = Exemplar { trace_id: 0xab, span_id: 0xcd, value_nanos: 1, unix_nanos: 0 };
    /// assert_eq!(
    ///     e.link("http://jaeger:16686/trace/{trace_id}"),
    ///     "http://jaeger:16686/trace/000000000000000000000000000000ab"
    /// );
    /// ```
    pub fn link(&self, template: &str) -> String {
        template
            .replace("{trace_id}", &self.trace_id_hex())
            .replace("{span_id}", &self.span_id_hex())
    }
}

/// The slowest recent exemplar of an operation, as `stats()` and `/plugins` show it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SlowExemplar {
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
    /// The call's latency.
    #[cfg_attr(feature = "serde", serde(with = "crate::model::fmt::serde::seconds"))]
    pub latency: Duration,
    /// When the call ended.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::unix_seconds")
    )]
    pub at: SystemTime,
    /// A link to the trace, when a link template is configured (see
    /// `plugobs::http::Endpoints::trace_link`); `None` otherwise.
    pub link: Option<String>,
}

impl From<&Exemplar> for SlowExemplar {
    fn from(e: &Exemplar) -> Self {
        SlowExemplar {
            trace_id: e.trace_id_hex(),
            span_id: e.span_id_hex(),
            latency: Duration::from_nanos(e.value_nanos),
            at: e.time(),
            link: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_seconds_and_links() {
        let e = Exemplar {
            trace_id: 1,
            span_id: 2,
            value_nanos: 1_500,
            unix_nanos: 2_000_999_999,
        };
        let cases: &[(String, &str)] = &[
            (e.trace_id_hex(), "00000000000000000000000000000001"),
            (e.span_id_hex(), "0000000000000002"),
            (e.seconds().to_string(), "0.0000015"),
            (e.timestamp_seconds().to_string(), "2"),
            (
                e.link("t/{trace_id}?s={span_id}&again={trace_id}"),
                "t/00000000000000000000000000000001?s=0000000000000002&again=00000000000000000000000000000001",
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
        }
        assert!(!e.is_older_than(Duration::from_secs(1), 3_000_999_999));
        assert!(e.is_older_than(Duration::from_secs(1), 3_001_000_000));
    }
}
