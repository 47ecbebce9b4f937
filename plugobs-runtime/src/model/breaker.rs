#![doc = include_str!("breaker.md")]

use std::time::Duration;

/// What trips a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trip {
    /// The share of failed calls among the calls that ended in the current window reaches
    /// `failure_ppm` (millionths), once at least `min_calls` calls ended in it.
    Ratio {
        /// The failure share that trips it, in millionths (500 000 for 50 %).
        failure_ppm: u32,
        /// The window's length.
        window: Duration,
        /// The fewest calls in the window before the ratio counts.
        min_calls: u32,
    },
    /// This many failures in a row.
    Consecutive(u32),
}

/// A breaker's settings: what trips it, how long it stays open, how many probes its
/// half-open state lets through. See the [module docs](self) for the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BreakerSettings {
    /// What trips it.
    pub trip: Trip,
    /// How long it stays open before it lets probes through.
    pub open_for: Duration,
    /// How many calls its half-open state lets through (at least 1).
    pub probes: u32,
}

impl BreakerSettings {
    /// The defaults: 50 % failures over a 10 s window with at least 20 calls; open for
    /// 30 s; one probe.
    pub const DEFAULT: BreakerSettings = BreakerSettings {
        trip: Trip::Ratio {
            failure_ppm: 500_000,
            window: Duration::from_secs(10),
            min_calls: 20,
        },
        open_for: Duration::from_secs(30),
        probes: 1,
    };

    /// The most probes a half-open breaker lets through.
    pub const MAX_PROBES: u32 = 1_000;

    /// Checks the settings: a ratio above 0 and at most 100 %, a window and an open
    /// duration above 0 and at most a day, `consecutive` and `probes` from 1 (probes at
    /// most [`MAX_PROBES`](Self::MAX_PROBES)).
    ///
    /// # Errors
    /// A message naming the first setting out of range.
    pub fn validate(&self) -> Result<(), String> {
        const DAY: Duration = Duration::from_secs(86_400);
        match self.trip {
            Trip::Ratio {
                failure_ppm,
                window,
                min_calls: _,
            } => {
                if !(1..=1_000_000).contains(&failure_ppm) {
                    return Err(format!(
                        "failure_ratio is above 0 and at most 100%; found {failure_ppm} ppm"
                    ));
                }
                if window.is_zero() || window > DAY {
                    return Err(format!(
                        "window is above 0 and at most a day; found {window:?}"
                    ));
                }
            }
            Trip::Consecutive(0) => return Err("consecutive is at least 1; found 0".into()),
            Trip::Consecutive(_) => {}
        }
        if self.open_for.is_zero() || self.open_for > DAY {
            return Err(format!(
                "open_for is above 0 and at most a day; found {:?}",
                self.open_for
            ));
        }
        if !(1..=Self::MAX_PROBES).contains(&self.probes) {
            return Err(format!(
                "probes is from 1 to {}; found {}",
                Self::MAX_PROBES,
                self.probes
            ));
        }
        Ok(())
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are rejected.
    Open,
    /// The configured number of probes go through; the other calls are rejected.
    HalfOpen,
}

impl BreakerState {
    /// Every state, in the order of the `state` label's values.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// The `state` label value: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a call its breaker rejected: the plugin was not called.
///
/// An operation with `#[instrumented(breaker)]` returns `Result<T, E>` with
/// `E: From<BreakerOpen>`:
///
/// ```
/// use plugobs_runtime::BreakerOpen;
///
/// #[derive(Debug)]
/// enum SinkError {
///     Io(std::io::Error),
///     Unavailable(BreakerOpen),
/// }
///
/// impl From<BreakerOpen> for SinkError {
///     fn from(e: BreakerOpen) -> Self {
///         SinkError::Unavailable(e)
///     }
/// }
/// ```
///
/// Its [`ErrorKind`](crate::ErrorKind) is `breaker_open`, and `anyhow::Error`,
/// `Box<dyn Error>` and the like convert from it since it implements
/// [`std::error::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerOpen {
    pub(crate) plugin: &'static str,
    pub(crate) instance: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) state: BreakerState,
}

impl BreakerOpen {
    /// The plugin whose call was rejected.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// The instance whose breaker rejected it.
    pub fn instance(&self) -> &'static str {
        self.instance
    }

    /// The operation.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The breaker's state when it rejected the call: [`BreakerState::Open`], or
    /// [`BreakerState::HalfOpen`] with every probe already taken.
    pub fn state(&self) -> BreakerState {
        self.state
    }
}

impl std::fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the circuit breaker of `{}` on instance `{}` is {}: the call was not made",
            self.operation,
            self.instance,
            self.state.as_str().replace('_', "-")
        )
    }
}

impl std::error::Error for BreakerOpen {}

impl crate::model::outcome::ErrorKind for BreakerOpen {
    fn error_kind(&self) -> &'static str {
        "breaker_open"
    }
}

/// A breaker's figures at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BreakerSnapshot {
    /// Its state.
    pub state: BreakerState,
    /// Times it opened (from closed, or again from half-open).
    pub trips: u64,
    /// Calls it rejected.
    pub rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert_eq!(BreakerSettings::DEFAULT.validate(), Ok(()));
        let mut s = BreakerSettings::DEFAULT;
        s.probes = 0;
        assert_eq!(
            s.validate(),
            Err("probes is from 1 to 1000; found 0".to_owned())
        );
        s.probes = 1;
        s.trip = Trip::Consecutive(0);
        assert_eq!(
            s.validate(),
            Err("consecutive is at least 1; found 0".to_owned())
        );
        s.trip = Trip::Ratio {
            failure_ppm: 0,
            window: Duration::from_secs(1),
            min_calls: 1,
        };
        assert!(s.validate().unwrap_err().starts_with("failure_ratio"));
        s.trip = Trip::Consecutive(3);
        s.open_for = Duration::ZERO;
        assert!(s.validate().unwrap_err().starts_with("open_for"));
    }

    #[test]
    fn the_error_says_what_was_rejected() {
        let e = BreakerOpen {
            plugin: "kafka_sink",
            instance: "kafka-us",
            operation: "write",
            state: BreakerState::Open,
        };
        assert_eq!(
            e.to_string(),
            "the circuit breaker of `write` on instance `kafka-us` is open: the call was not made"
        );
        assert_eq!(
            crate::model::outcome::ErrorKind::error_kind(&e),
            "breaker_open"
        );
    }
}
