//! What an operator tunes: thresholds, `for:` durations, windows, objectives, the series
//! the rules look at (`selector`) and the labels that tell hosts apart (`host_labels`).
//!
//! A [`Config`] is built in code with chained setters, or from text with [`Config::set`]
//! (what `--set key=value` on the command line calls); the generators check it whole
//! ([`Config::validate`]) before writing anything.
//!
//! ```
//! let config = plugobs_cli::Config::new()
//!     .namespace("myapp")
//!     .selector(r#"job="pipeline""#)
//!     .objective(0.995)
//!     .runbook_base("https://wiki.example.com/plugobs");
//! config.validate().unwrap();
//! let rules = plugobs_cli::rules_yaml(&config).unwrap();
//! assert!(rules.contains(r#"myapp_plugin_operations_total{job=\"pipeline\"}"#));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::OpsError;

/// The page every `runbook_url` points into by default: `docs/operating.md` of the
/// repository, whose headings are the alerts' names.
pub const DEFAULT_RUNBOOK_BASE: &str =
    "https://github.com/plugobs/plugobs/blob/main/docs/operating.md";

/// Thresholds, durations, objectives and scope of the generated rules and dashboard. Every
/// field has a documented default ([`Config::default`]) and can be set by name
/// ([`Config::set`], `--set key=value` on the command line; [`SETTINGS`] lists them).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Metric namespace (`plugobs`): the prefix `plugobs::set_namespace` sets.
    pub namespace: String,
    /// Label matchers added to every series the rules and the dashboard read (empty: the
    /// whole Prometheus), e.g. `job="pipeline"`. Every label it names must be one of
    /// [`host_labels`](Config::host_labels), so recorded series keep it.
    pub selector: String,
    /// The labels that identify a scraped host (`job`, `host`): every aggregation keeps
    /// them, and every annotation and legend shows them.
    pub host_labels: Vec<String>,
    /// Base URL of the runbook (`docs/operating.md` on GitHub): each alert's
    /// `runbook_url` is this plus `#` and the alert's name in lower case, the anchor of its
    /// section.
    pub runbook_base: String,
    /// Rate window of the recording rules and most alerts (`5m`).
    pub rate_window: String,
    /// `for:` of "no plugin running" and "target down" (`1m`).
    pub down_for: String,
    /// How far back a target that stopped being scraped is remembered as a plugobs target
    /// (`1d`): "target down" fires for a target that exposed plugobs' metrics within it.
    pub target_lookback: String,
    /// Error ratio (errors and panics over finished calls) above which an operation
    /// alerts (`0.05`).
    pub error_ratio: f64,
    /// Fewest calls in a window for a ratio (error ratio, latency quantile, burn rate) to
    /// alert (`20`, the health policy's default minimum).
    pub min_calls: u64,
    /// `for:` of the error-ratio alert (`5m`).
    pub error_ratio_for: String,
    /// The latency quantile the slow-operation alert and latency objectives judge
    /// (`0.99`).
    pub latency_quantile: f64,
    /// Latency in seconds that the quantile of an operation without a latency objective of
    /// its own should stay under (`1`).
    pub slow_seconds: f64,
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
    /// A circuit breaker not closed (open, or half-open probing) for this long alerts
    /// (`5m`).
    pub breaker_open_for: String,
    /// A running plugin whose last health check is older than this many seconds alerts
    /// (`300`).
    pub stale_check_seconds: u64,
    /// Success-ratio objective of an operation that declares none in code, for the
    /// burn-rate alerts (`0.999`).
    pub objective: f64,
    /// Scale applied to every burn-rate window (`1`): `0.01` turns 1h/5m into 36s/3s, for
    /// tests.
    pub burn_window_scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "plugobs".to_owned(),
            selector: String::new(),
            host_labels: vec!["job".to_owned(), "host".to_owned()],
            runbook_base: DEFAULT_RUNBOOK_BASE.to_owned(),
            rate_window: "5m".to_owned(),
            down_for: "1m".to_owned(),
            target_lookback: "1d".to_owned(),
            error_ratio: 0.05,
            min_calls: 20,
            error_ratio_for: "5m".to_owned(),
            latency_quantile: 0.99,
            slow_seconds: 1.0,
            slow_for: "10m".to_owned(),
            slow_start_seconds: 10.0,
            lifecycle_window: "15m".to_owned(),
            flapping_transitions: 6,
            unhealthy_for: "1m".to_owned(),
            breaker_open_for: "5m".to_owned(),
            stale_check_seconds: 300,
            objective: 0.999,
            burn_window_scale: 1.0,
        }
    }
}

/// One settable key: its name (as [`Config::set`] takes it) and what it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key.
    pub key: &'static str,
    /// What it sets, one line.
    pub help: &'static str,
}

const fn s(key: &'static str, help: &'static str) -> Setting {
    Setting { key, help }
}

/// Every settable key, in the order `plugobs-cli settings` prints them.
pub const SETTINGS: &[Setting] = &[
    s("namespace", "metric namespace (plugobs::set_namespace)"),
    s(
        "selector",
        "label matchers added to every series read, e.g. job=\"pipeline\" (empty: all)",
    ),
    s(
        "host_labels",
        "comma-separated labels that identify a host, kept by every aggregation",
    ),
    s(
        "runbook_base",
        "URL of the runbook page; runbook_url = base#alertname-in-lower-case",
    ),
    s("rate_window", "rate window of recording rules and alerts"),
    s(
        "down_for",
        "for: of PlugobsNoPluginRunning and PlugobsTargetDown",
    ),
    s(
        "target_lookback",
        "how long a target that stopped being scraped is remembered",
    ),
    s("error_ratio", "error ratio above which an operation alerts"),
    s(
        "min_calls",
        "fewest calls in a window for any ratio alert (health policy: 20)",
    ),
    s("error_ratio_for", "for: of PlugobsOperationErrorRatioHigh"),
    s(
        "latency_quantile",
        "latency quantile judged by PlugobsOperationSlow and latency objectives",
    ),
    s(
        "slow_seconds",
        "latency objective (s) of operations declaring none",
    ),
    s("slow_for", "for: of PlugobsOperationSlow"),
    s(
        "slow_start_seconds",
        "a start slower than this (s) alerts (a start-histogram bucket bound)",
    ),
    s(
        "lifecycle_window",
        "window counting failures, starts, state changes",
    ),
    s(
        "flapping_transitions",
        "more state changes than this in lifecycle_window is flapping",
    ),
    s("unhealthy_for", "for: of PlugobsPluginUnhealthy"),
    s(
        "breaker_open_for",
        "for: of PlugobsCircuitBreakerOpen (a breaker not closed this long)",
    ),
    s(
        "stale_check_seconds",
        "a running plugin not checked for this long (s) alerts",
    ),
    s(
        "objective",
        "success-ratio objective of operations declaring none",
    ),
    s(
        "burn_window_scale",
        "factor on every burn-rate window (0.01 for tests)",
    ),
];

fn invalid(key: &str, value: &str, expected: &'static str) -> OpsError {
    OpsError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

fn number<T: FromStr>(key: &str, value: &str) -> Result<T, OpsError> {
    value.parse().map_err(|_| invalid(key, value, "a number"))
}

fn is_duration(value: &str) -> bool {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["ms", "s", "m", "h", "d", "w", "y"].contains(&unit)
}

/// A Prometheus duration: digits and a unit (`ms`, `s`, `m`, `h`, `d`, `w`, `y`), e.g. `90s`.
fn duration(key: &str, value: &str) -> Result<String, OpsError> {
    if is_duration(value) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            key,
            value,
            "a Prometheus duration such as 30s, 5m or 1h",
        ))
    }
}

fn is_label_name(value: &str) -> bool {
    value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One label matcher of a selector: `name`, operator (`=`, `!=`, `=~`, `!~`), and the
/// quoted value as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    /// The label's name.
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: &'static str,
    /// The value with its quotes, as written.
    pub quoted: String,
}

/// Parses PromQL label matchers as they stand between braces (`job="a", host=~"b.*"`).
///
/// ```
/// let m = plugobs_cli::config::parse_selector(r#"job="a,b", host=~'x'"#).unwrap();
/// assert_eq!(m.len(), 2);
/// assert_eq!((m[0].label.as_str(), m[0].op, m[0].quoted.as_str()), ("job", "=", "\"a,b\""));
/// assert_eq!((m[1].label.as_str(), m[1].op), ("host", "=~"));
/// assert!(plugobs_cli::config::parse_selector("job=pipeline").is_none());
/// ```
///
/// `None` when the text is not a list of matchers.
pub fn parse_selector(text: &str) -> Option<Vec<Matcher>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = &rest[..end];
        if !is_label_name(label) {
            return None;
        }
        rest = rest[end..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))?;
        rest = rest[op.len()..].trim_start();
        let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in rest.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == quote => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let close = close?;
        out.push(Matcher {
            label: label.to_owned(),
            op,
            quoted: rest[..=close].to_owned(),
        });
        rest = rest[close + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

impl Config {
    /// The defaults: [`Config::default`].
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets the metric namespace (the host's `plugobs::set_namespace`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the label matchers added to every series read, e.g. `job="pipeline"`.
    pub fn selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = selector.into();
        self
    }

    /// Sets the labels that identify a host (default `job`, `host`).
    pub fn host_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.host_labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the runbook page the alerts' `runbook_url` points into.
    pub fn runbook_base(mut self, url: impl Into<String>) -> Self {
        self.runbook_base = url.into();
        self
    }

    /// Sets the success-ratio objective of operations that declare none (e.g. `0.999`).
    pub fn objective(mut self, objective: f64) -> Self {
        self.objective = objective;
        self
    }

    /// Sets the latency quantile judged (e.g. `0.99`).
    pub fn latency_quantile(mut self, quantile: f64) -> Self {
        self.latency_quantile = quantile;
        self
    }

    /// Sets the latency objective in seconds of operations that declare none.
    pub fn slow_seconds(mut self, seconds: f64) -> Self {
        self.slow_seconds = seconds;
        self
    }

    /// Sets the fewest calls in a window for a ratio alert to fire.
    pub fn min_calls(mut self, calls: u64) -> Self {
        self.min_calls = calls;
        self
    }

    /// Sets the error ratio above which an operation alerts.
    pub fn error_ratio(mut self, ratio: f64) -> Self {
        self.error_ratio = ratio;
        self
    }

    /// Sets the rate window of the recording rules and most alerts (a Prometheus
    /// duration).
    pub fn rate_window(mut self, window: impl Into<String>) -> Self {
        self.rate_window = window.into();
        self
    }

    /// Sets one setting by name from text, checking the value.
    ///
    /// ```
    /// let mut c = plugobs_cli::Config::default();
    /// c.set("error_ratio", "0.2").unwrap();
    /// c.set("slow_for", "30s").unwrap();
    /// c.set("host_labels", "cluster,job,host").unwrap();
    /// assert_eq!(c.error_ratio, 0.2);
    /// assert_eq!(c.host_labels, ["cluster", "job", "host"]);
    /// assert!(c.set("slow_for", "soon").is_err());
    /// assert!(c.set("colour", "blue").is_err());
    /// ```
    ///
    /// # Errors
    /// [`OpsError::UnknownKey`] (the message lists the keys) or
    /// [`OpsError::InvalidValue`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OpsError> {
        let mut next = self.clone();
        match key {
            "namespace" => next.namespace = value.to_owned(),
            "selector" => next.selector = value.trim().to_owned(),
            "host_labels" => {
                next.host_labels = value
                    .split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "runbook_base" => next.runbook_base = value.to_owned(),
            "rate_window" => next.rate_window = duration(key, value)?,
            "down_for" => next.down_for = duration(key, value)?,
            "target_lookback" => next.target_lookback = duration(key, value)?,
            "error_ratio" => next.error_ratio = number(key, value)?,
            "min_calls" => next.min_calls = number(key, value)?,
            "error_ratio_for" => next.error_ratio_for = duration(key, value)?,
            "latency_quantile" => next.latency_quantile = number(key, value)?,
            // The name before the quantile became a setting.
            "slow_seconds" | "slow_p99_seconds" => next.slow_seconds = number(key, value)?,
            "slow_for" => next.slow_for = duration(key, value)?,
            "slow_start_seconds" => next.slow_start_seconds = number(key, value)?,
            "lifecycle_window" => next.lifecycle_window = duration(key, value)?,
            "flapping_transitions" => next.flapping_transitions = number(key, value)?,
            "unhealthy_for" => next.unhealthy_for = duration(key, value)?,
            "breaker_open_for" => next.breaker_open_for = duration(key, value)?,
            "stale_check_seconds" => next.stale_check_seconds = number(key, value)?,
            "objective" => next.objective = number(key, value)?,
            "burn_window_scale" => next.burn_window_scale = number(key, value)?,
            _ => {
                return Err(OpsError::UnknownKey {
                    key: key.to_owned(),
                });
            }
        }
        next.check(Some((key, value)))?;
        *self = next;
        Ok(())
    }

    /// The current value of a setting, as [`Config::set`] takes it.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "namespace" => self.namespace.clone(),
            "selector" => self.selector.clone(),
            "host_labels" => self.host_labels.join(","),
            "runbook_base" => self.runbook_base.clone(),
            "rate_window" => self.rate_window.clone(),
            "down_for" => self.down_for.clone(),
            "target_lookback" => self.target_lookback.clone(),
            "error_ratio" => self.error_ratio.to_string(),
            "min_calls" => self.min_calls.to_string(),
            "error_ratio_for" => self.error_ratio_for.clone(),
            "latency_quantile" => self.latency_quantile.to_string(),
            "slow_seconds" => self.slow_seconds.to_string(),
            "slow_for" => self.slow_for.clone(),
            "slow_start_seconds" => self.slow_start_seconds.to_string(),
            "lifecycle_window" => self.lifecycle_window.clone(),
            "flapping_transitions" => self.flapping_transitions.to_string(),
            "unhealthy_for" => self.unhealthy_for.clone(),
            "breaker_open_for" => self.breaker_open_for.clone(),
            "stale_check_seconds" => self.stale_check_seconds.to_string(),
            "objective" => self.objective.to_string(),
            "burn_window_scale" => self.burn_window_scale.to_string(),
            _ => return None,
        })
    }

    /// Checks every setting and their consistency (what the generators call first).
    ///
    /// ```
    /// let c = plugobs_cli::Config::new().selector(r#"env="prod""#);
    /// // `env` is not a host label, so recorded series would lose it.
    /// assert!(c.validate().is_err());
    /// let c = c.host_labels(["env", "job", "host"]);
    /// assert!(c.validate().is_ok());
    /// ```
    ///
    /// # Errors
    /// [`OpsError::InvalidValue`] naming the first setting that does not fit.
    pub fn validate(&self) -> Result<(), OpsError> {
        self.check(None)
    }

    /// The selector's matchers (empty when no selector is set).
    ///
    /// # Errors
    /// [`OpsError::InvalidValue`] when the selector does not parse.
    pub fn matchers(&self) -> Result<Vec<Matcher>, OpsError> {
        parse_selector(&self.selector).ok_or_else(|| {
            invalid(
                "selector",
                &self.selector,
                "PromQL label matchers such as job=\"pipeline\",host=~\"app-.*\"",
            )
        })
    }

    /// `given` is the key and text just set, reported for an error in that key.
    fn check(&self, given: Option<(&str, &str)>) -> Result<(), OpsError> {
        let err = |key: &str, expected: &'static str| {
            let value = match given {
                Some((k, v)) if k == key || (key == "slow_seconds" && k == "slow_p99_seconds") => {
                    v.to_owned()
                }
                _ => self.get(key).unwrap_or_default(),
            };
            invalid(key, &value, expected)
        };
        if !is_label_name(&self.namespace) {
            return Err(err("namespace", "[a-zA-Z_][a-zA-Z0-9_]*"));
        }
        let mut seen = Vec::new();
        for label in &self.host_labels {
            if !is_label_name(label) || seen.contains(&label) {
                return Err(err(
                    "host_labels",
                    "distinct label names separated by commas, such as job,host",
                ));
            }
            if ["plugin", "kind", "instance", "operation"].contains(&label.as_str()) {
                return Err(err(
                    "host_labels",
                    "labels other than plugobs' own (plugin, kind, instance, operation)",
                ));
            }
            seen.push(label);
        }
        let matchers = self.matchers()?;
        if matchers
            .iter()
            .any(|m| !self.host_labels.contains(&m.label))
        {
            return Err(err(
                "selector",
                "matchers on host labels only (set host_labels to include the label)",
            ));
        }
        if self.runbook_base.is_empty() || self.runbook_base.contains(['#', ' ', '"']) {
            return Err(err(
                "runbook_base",
                "a URL without fragment, spaces or quotes",
            ));
        }
        for key in [
            "rate_window",
            "down_for",
            "target_lookback",
            "error_ratio_for",
            "slow_for",
            "lifecycle_window",
            "unhealthy_for",
            "breaker_open_for",
        ] {
            if !is_duration(&self.get(key).unwrap_or_default()) {
                return Err(err(key, "a Prometheus duration such as 30s, 5m or 1h"));
            }
        }
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Err(err("objective", "a ratio between 0 and 1, such as 0.999"));
        }
        if !(self.latency_quantile > 0.0 && self.latency_quantile < 1.0) {
            return Err(err(
                "latency_quantile",
                "a quantile between 0 and 1, such as 0.99",
            ));
        }
        if !(0.0..=1.0).contains(&self.error_ratio) {
            return Err(err("error_ratio", "a ratio between 0 and 1, such as 0.05"));
        }
        if !(self.slow_seconds > 0.0 && self.slow_seconds.is_finite()) {
            return Err(err("slow_seconds", "a positive number of seconds"));
        }
        if !(self.burn_window_scale > 0.0 && self.burn_window_scale.is_finite()) {
            return Err(err("burn_window_scale", "a positive factor"));
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    /// One `key=value` per line, every setting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in SETTINGS {
            writeln!(f, "{}={}", s.key, self.get(s.key).unwrap_or_default())?;
        }
        Ok(())
    }
}
