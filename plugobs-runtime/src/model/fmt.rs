//! Durations and timestamps as plugobs writes them, once: in the stats tables, the status
//! page, health messages and the policy's reasons, and in what `serde` serializes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration as people read it: exact when it is a whole number of seconds (`60s`) or,
/// under a second, of milliseconds (`250ms`) — thresholds and windows as they were
/// written — and otherwise three significant figures with a unit (`1.23µs`, `4.57ms`,
/// `1.50s`), as measured values are shown.
pub fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        nanos(d.as_nanos() as f64)
    }
}

/// A number of nanoseconds (a mean, say) with three significant figures and a unit.
pub(crate) fn nanos(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v < 10.0 {
        format!("{v:.2}{unit}")
    } else if v < 100.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// Seconds since the Unix epoch (0 for a time before it), as timestamps are exported.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `#[serde(with = "…")]` helpers: durations as seconds, times as Unix seconds.
#[cfg(feature = "serde")]
pub(crate) mod serde {
    use std::time::{Duration, SystemTime};

    /// A `Duration` as seconds (`f64`).
    pub(crate) mod seconds {
        pub(crate) fn serialize<S: serde::Serializer>(
            d: &super::Duration,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_f64(d.as_secs_f64())
        }
    }

    /// An `Option<Duration>` as seconds or `null`.
    pub(crate) mod opt_seconds {
        pub(crate) fn serialize<S: serde::Serializer>(
            d: &Option<super::Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&d.as_secs_f64()),
                None => s.serialize_none(),
            }
        }
    }

    /// A `SystemTime` as seconds since the Unix epoch.
    pub(crate) mod unix_seconds {
        pub(crate) fn serialize<S: serde::Serializer>(
            t: &super::SystemTime,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_f64(crate::model::fmt::unix_seconds(*t))
        }
    }

    /// An `Option<SystemTime>` as seconds since the Unix epoch or `null`.
    pub(crate) mod opt_unix_seconds {
        pub(crate) fn serialize<S: serde::Serializer>(
            t: &Option<super::SystemTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&crate::model::fmt::unix_seconds(*t)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_when_round_and_three_figures_otherwise() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_secs(60), "60s"),
            (Duration::from_millis(50), "50ms"),
            (Duration::from_millis(200), "200ms"),
            (Duration::from_nanos(7), "7.00ns"),
            (Duration::from_nanos(1_234), "1.23µs"),
            (Duration::from_nanos(12_345), "12.3µs"),
            (Duration::from_nanos(123_456), "123µs"),
            (Duration::from_micros(4_567), "4.57ms"),
            (Duration::from_millis(1_500), "1.50s"),
            (Duration::from_millis(12_260), "12.3s"),
        ];
        for (d, expected) in cases {
            assert_eq!(duration(*d), *expected, "{d:?}");
        }
    }

    #[test]
    fn unix_seconds_of_the_epoch_and_before() {
        assert_eq!(unix_seconds(UNIX_EPOCH), 0.0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1_500)), 1.5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0.0);
    }
}
