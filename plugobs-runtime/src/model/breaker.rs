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
/// half-open state lets through. See [`breaker`](crate::breaker) for what each does;
/// [`BreakerSettings::DEFAULT`] for the defaults.
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

/// The host's breaker settings for one instance, from its configuration section's
/// `breaker` table (see [`Registry::load_instances`](crate::Registry::load_instances)):
/// what it gives replaces the operation's declared settings, the rest stays as declared.
/// `breaker = false` turns the instance's breakers off.
///
/// ```text
/// [sinks.kafka-us]
/// type = "kafka_sink"
/// brokers = ["us-1:9092"]
/// breaker = { consecutive = 3, open_for = "10s" }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerOverride {
    /// Turned off (`breaker = false`).
    pub off: bool,
    /// `consecutive = N`.
    pub consecutive: Option<u32>,
    /// `failure_ratio = "50%"`, in millionths.
    pub failure_ppm: Option<u32>,
    /// `window = "10s"`.
    pub window: Option<Duration>,
    /// `min_calls = N`.
    pub min_calls: Option<u32>,
    /// `open_for = "30s"`.
    pub open_for: Option<Duration>,
    /// `probes = N`.
    pub probes: Option<u32>,
}

impl BreakerOverride {
    /// Every setting replaced by `settings`; `None`: off.
    pub fn replace(settings: Option<BreakerSettings>) -> BreakerOverride {
        let Some(s) = settings else {
            return BreakerOverride {
                off: true,
                ..Default::default()
            };
        };
        let mut o = BreakerOverride {
            open_for: Some(s.open_for),
            probes: Some(s.probes),
            ..Default::default()
        };
        match s.trip {
            Trip::Consecutive(n) => o.consecutive = Some(n),
            Trip::Ratio {
                failure_ppm,
                window,
                min_calls,
            } => {
                o.failure_ppm = Some(failure_ppm);
                o.window = Some(window);
                o.min_calls = Some(min_calls);
            }
        }
        o
    }

    /// `declared` with this override applied (`None`: off). A `consecutive` here selects
    /// the consecutive rule; a ratio setting here selects the ratio rule, its other parts
    /// from `declared` when it uses that rule, else from the defaults.
    pub fn apply(&self, declared: BreakerSettings) -> Option<BreakerSettings> {
        if self.off {
            return None;
        }
        let mut s = declared;
        if let Some(n) = self.consecutive {
            s.trip = Trip::Consecutive(n);
        } else if self.failure_ppm.is_some() || self.window.is_some() || self.min_calls.is_some() {
            let (ppm, window, min) = match (declared.trip, BreakerSettings::DEFAULT.trip) {
                (
                    Trip::Ratio {
                        failure_ppm,
                        window,
                        min_calls,
                    },
                    _,
                )
                | (
                    Trip::Consecutive(_),
                    Trip::Ratio {
                        failure_ppm,
                        window,
                        min_calls,
                    },
                ) => (failure_ppm, window, min_calls),
                (Trip::Consecutive(_), Trip::Consecutive(_)) => {
                    (500_000, Duration::from_secs(10), 20)
                }
            };
            s.trip = Trip::Ratio {
                failure_ppm: self.failure_ppm.unwrap_or(ppm),
                window: self.window.unwrap_or(window),
                min_calls: self.min_calls.unwrap_or(min),
            };
        }
        if let Some(d) = self.open_for {
            s.open_for = d;
        }
        if let Some(n) = self.probes {
            s.probes = n;
        }
        Some(s)
    }

    /// Reads a configuration's `breaker` value: `false` (off), `true` (as declared), or a
    /// table of `consecutive`, `failure_ratio` (`"50%"`), `window` (`"10s"`),
    /// `min_calls`, `open_for` (`"30s"`) and `probes`.
    ///
    /// # Errors
    /// A message naming the key that is unknown or out of range.
    #[cfg(feature = "serde")]
    pub fn from_json(value: &serde_json::Value) -> Result<BreakerOverride, String> {
        use serde_json::Value;
        let table = match value {
            Value::Bool(false) => {
                return Ok(BreakerOverride {
                    off: true,
                    ..Default::default()
                });
            }
            Value::Bool(true) => return Ok(BreakerOverride::default()),
            Value::Object(table) => table,
            _ => return Err("`breaker` is `false`, `true` or a table of settings".to_owned()),
        };
        let mut o = BreakerOverride::default();
        let int = |key: &str, v: &Value, min: u64, max: u64| -> Result<u32, String> {
            v.as_u64()
                .filter(|n| (min..=max).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| format!("`{key}` is an integer from {min} to {max}; found {v}"))
        };
        let text = |key: &str, v: &Value| -> Result<String, String> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{key}` is a string; found {v}"))
        };
        for (key, v) in table {
            match key.as_str() {
                "consecutive" => o.consecutive = Some(int(key, v, 1, u64::from(u32::MAX))?),
                "min_calls" => o.min_calls = Some(int(key, v, 0, u64::from(u32::MAX))?),
                "probes" => {
                    o.probes = Some(int(key, v, 1, u64::from(BreakerSettings::MAX_PROBES))?);
                }
                "failure_ratio" => o.failure_ppm = Some(parse_ratio(&text(key, v)?)?),
                "window" => o.window = Some(parse_duration(key, &text(key, v)?)?),
                "open_for" => o.open_for = Some(parse_duration(key, &text(key, v)?)?),
                other => {
                    return Err(format!(
                        "unknown key `{other}` in `breaker`; expected one of: consecutive, \
                         failure_ratio, window, min_calls, open_for, probes"
                    ));
                }
            }
        }
        if o.consecutive.is_some()
            && (o.failure_ppm.is_some() || o.window.is_some() || o.min_calls.is_some())
        {
            return Err(
                "`consecutive` replaces the ratio rule: give it or `failure_ratio`, \
                        `window` and `min_calls`, not both"
                    .to_owned(),
            );
        }
        Ok(o)
    }
}

/// `"50%"` in millionths: above 0 and at most 100, at most 4 decimals.
#[cfg(feature = "serde")]
fn parse_ratio(text: &str) -> Result<u32, String> {
    let wrong = || {
        format!(
            "`failure_ratio` is a percentage above 0 and at most 100, like \"50%\"; found {text:?}"
        )
    };
    let number = text.trim().strip_suffix('%').ok_or_else(wrong)?.trim_end();
    let (whole, decimals) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || whole.len() > 3
        || decimals.len() > 4
        || !whole
            .bytes()
            .chain(decimals.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(wrong());
    }
    let mut ppm: u32 = whole.parse::<u32>().map_err(|_| wrong())? * 10_000;
    for (i, b) in decimals.bytes().enumerate() {
        ppm += u32::from(b - b'0') * 10u32.pow(3 - i as u32);
    }
    if ppm == 0 || ppm > 1_000_000 {
        return Err(wrong());
    }
    Ok(ppm)
}

/// `"30s"`, `"500ms"`, `"5m"`, `"1h"`: above 0 and at most a day.
#[cfg(feature = "serde")]
fn parse_duration(key: &str, text: &str) -> Result<Duration, String> {
    let wrong = || {
        format!(
            "`{key}` is a duration with its unit (ms, s, m, h) of at most a day, like \"30s\"; found {text:?}"
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(wrong)?;
    let (number, unit) = t.split_at(split);
    let per = match unit.trim() {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        _ => return Err(wrong()),
    };
    let value: f64 = number.parse().map_err(|_| wrong())?;
    let seconds = value * per;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(wrong());
    }
    Ok(Duration::from_secs_f64(seconds))
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
