//! What an operator tunes: thresholds, `for:` durations, windows and the objective.

use std::fmt;
use std::str::FromStr;

use crate::OpsError;

/// Thresholds and durations of the generated rules. Every field has a documented default
/// ([`Config::default`]) and can be set by name ([`Config::set`], `--set key=value` on
/// the command line).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Metric namespace (`plugobs`): the prefix `plugobs::set_namespace` sets.
    pub namespace: String,
    /// Rate window of the recording rules and most alerts (`5m`).
    pub rate_window: String,
    /// `for:` of "no plugin running" (`1m`).
    pub down_for: String,
    /// Error ratio (errors and panics over finished calls) above which an operation
    /// alerts (`0.05`).
    pub error_ratio: f64,
    /// `for:` of the error-ratio alert (`5m`).
    pub error_ratio_for: String,
    /// p99 latency in seconds above which an operation is slow (`1`).
    pub slow_p99_seconds: f64,
    /// `for:` of the slow-operation alert (`10m`).
    pub slow_for: String,
    /// A start slower than this many seconds alerts (`10`; one of the start histogram's
    /// bucket bounds: 0.01 … 30).
    pub slow_start_seconds: f64,
    /// Window in which starts and state changes are counted (`15m`).
    pub lifecycle_window: String,
    /// More state transitions than this in `lifecycle_window` is flapping (`6`).
    pub flapping_transitions: u32,
    /// `for:` of the unhealthy alert (`1m`).
    pub unhealthy_for: String,
    /// A running plugin whose last health check is older than this many seconds alerts
    /// (`300`).
    pub stale_check_seconds: u64,
    /// Availability objective per plugin for the burn-rate alerts (`0.999`).
    pub objective: f64,
    /// Scale applied to every burn-rate window (`1`): `0.01` turns 1h/5m into 36s/3s, for
    /// tests.
    pub burn_window_scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "plugobs".to_owned(),
            rate_window: "5m".to_owned(),
            down_for: "1m".to_owned(),
            error_ratio: 0.05,
            error_ratio_for: "5m".to_owned(),
            slow_p99_seconds: 1.0,
            slow_for: "10m".to_owned(),
            slow_start_seconds: 10.0,
            lifecycle_window: "15m".to_owned(),
            flapping_transitions: 6,
            unhealthy_for: "1m".to_owned(),
            stale_check_seconds: 300,
            objective: 0.999,
            burn_window_scale: 1.0,
        }
    }
}

/// The settable keys, as [`Config::set`] takes them.
pub const KEYS: &[&str] = &[
    "namespace",
    "rate_window",
    "down_for",
    "error_ratio",
    "error_ratio_for",
    "slow_p99_seconds",
    "slow_for",
    "slow_start_seconds",
    "lifecycle_window",
    "flapping_transitions",
    "unhealthy_for",
    "stale_check_seconds",
    "objective",
    "burn_window_scale",
];

fn number<T: FromStr>(key: &str, value: &str) -> Result<T, OpsError> {
    value.parse().map_err(|_| OpsError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: "a number",
    })
}

/// A Prometheus duration: digits and a unit (`ms`, `s`, `m`, `h`, `d`, `w`, `y`), e.g. `90s`.
fn duration(key: &str, value: &str) -> Result<String, OpsError> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    if !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["ms", "s", "m", "h", "d", "w", "y"].contains(&unit)
    {
        Ok(value.to_owned())
    } else {
        Err(OpsError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: "a Prometheus duration such as 30s, 5m or 1h",
        })
    }
}

impl Config {
    /// Sets one field by name from text.
    ///
    /// ```
    /// let mut c = plugobs_cli::Config::default();
    /// c.set("error_ratio", "0.2").unwrap();
    /// c.set("slow_for", "30s").unwrap();
    /// assert_eq!(c.error_ratio, 0.2);
    /// assert!(c.set("slow_for", "soon").is_err());
    /// assert!(c.set("colour", "blue").is_err());
    /// ```
    ///
    /// # Errors
    /// [`OpsError::UnknownKey`] (the message lists the keys) or
    /// [`OpsError::InvalidValue`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OpsError> {
        match key {
            "namespace" => {
                let valid = value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(OpsError::InvalidValue {
                        key: key.to_owned(),
                        value: value.to_owned(),
                        expected: "[a-zA-Z_][a-zA-Z0-9_]*",
                    });
                }
                self.namespace = value.to_owned();
            }
            "rate_window" => self.rate_window = duration(key, value)?,
            "down_for" => self.down_for = duration(key, value)?,
            "error_ratio" => self.error_ratio = number(key, value)?,
            "error_ratio_for" => self.error_ratio_for = duration(key, value)?,
            "slow_p99_seconds" => self.slow_p99_seconds = number(key, value)?,
            "slow_for" => self.slow_for = duration(key, value)?,
            "slow_start_seconds" => self.slow_start_seconds = number(key, value)?,
            "lifecycle_window" => self.lifecycle_window = duration(key, value)?,
            "flapping_transitions" => self.flapping_transitions = number(key, value)?,
            "unhealthy_for" => self.unhealthy_for = duration(key, value)?,
            "stale_check_seconds" => self.stale_check_seconds = number(key, value)?,
            "objective" => {
                let v: f64 = number(key, value)?;
                if !(0.0..1.0).contains(&v) {
                    return Err(OpsError::InvalidValue {
                        key: key.to_owned(),
                        value: value.to_owned(),
                        expected: "a ratio below 1, such as 0.999",
                    });
                }
                self.objective = v;
            }
            "burn_window_scale" => self.burn_window_scale = number(key, value)?,
            _ => {
                return Err(OpsError::UnknownKey {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "namespace={} rate_window={} error_ratio={} error_ratio_for={} slow_p99_seconds={} \
             slow_for={} slow_start_seconds={} lifecycle_window={} flapping_transitions={} \
             unhealthy_for={} stale_check_seconds={} objective={} burn_window_scale={}",
            self.namespace,
            self.rate_window,
            self.error_ratio,
            self.error_ratio_for,
            self.slow_p99_seconds,
            self.slow_for,
            self.slow_start_seconds,
            self.lifecycle_window,
            self.flapping_transitions,
            self.unhealthy_for,
            self.stale_check_seconds,
            self.objective,
            self.burn_window_scale
        )
    }
}
