//! Operating plugobs: Prometheus alert and recording rules, a Grafana dashboard,
//! Alertmanager inhibitions and a Prometheus scrape configuration, generated from
//! plugobs' closed metric list (`plugobs::names::ALL`), so they match the names the code
//! records and keep matching: a rule or panel that names a metric plugobs does not emit
//! is an error.
//!
//! ```text
//! cargo install plugobs-cli
//! plugobs-cli rules > plugobs.rules.yml
//! plugobs-cli dashboard > plugobs.dashboard.json
//! plugobs-cli inhibit-rules > plugobs.inhibit.yml
//! plugobs-cli rules --set selector='job="pipeline"' --set error_ratio=0.1
//! plugobs-cli prometheus-config --rules plugobs.rules.yml app-1:9464 app-2:9464
//! ```
//!
//! The same generators as a library, for a host that wants the rules in its own
//! namespace and with its own defaults ([`Config`] has a setter per common setting and
//! [`Config::set`] for all of them):
//!
//! ```
//! let config = plugobs_cli::Config::new()
//!     .namespace("myapp")
//!     .selector(r#"job="pipeline""#)
//!     .objective(0.995);
//! let rules = plugobs_cli::rules_yaml(&config)?;
//! let dashboard = plugobs_cli::dashboard_json(&config)?;
//! let inhibitions = plugobs_cli::inhibit_rules_yaml(&config)?;
//! assert!(rules.contains("myapp:operation_error_budget:ratio"));
//! assert!(dashboard.contains("myapp_plugin_up"));
//! assert!(inhibitions.contains("PlugobsErrorBudgetBurnFast"));
//! # Ok::<(), plugobs_cli::OpsError>(())
//! ```
//!
//! The alerts are listed in [`rules`](mod@rules); `docs/operating.md` says what each
//! means and what to do, and each alert's `runbook_url` points at its section.
//!
//! Every per-plugin series carries plugobs' `instance` label (the configured instance),
//! and the rules and the dashboard group by it. Prometheus attaches its own target label
//! `instance` (`host:port`) to every scraped series and, with the default
//! `honor_labels: false`, renames a scraped `instance` to `exported_instance`, which no
//! rule matches. Scrape plugobs with `honor_labels: true` and keep the target's identity
//! in another label, as [`prometheus_config`] does (the label [`HOST_LABEL`]).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod config;
pub mod dashboard;
pub mod names;
pub mod rules;
pub mod scope;
pub mod yaml;

pub use config::Config;

/// What can go wrong generating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpsError {
    /// A rule or panel names a metric that is not in plugobs' closed list.
    UnknownMetric {
        /// The name, without namespace.
        name: String,
    },
    /// `--set` named no known key.
    UnknownKey {
        /// The key given.
        key: String,
    },
    /// A value that does not parse.
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl std::fmt::Display for OpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpsError::UnknownMetric { name } => write!(
                f,
                "`{name}` is not in plugobs' metric list (plugobs::names::ALL); see docs/metrics.md"
            ),
            OpsError::UnknownKey { key } => write!(
                f,
                "unknown setting `{key}`; the settings are: {}",
                config::SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            OpsError::InvalidValue {
                key,
                value,
                expected,
            } => write!(f, "`{key}={value}`: expected {expected}"),
        }
    }
}

impl std::error::Error for OpsError {}

/// The Prometheus rule file: recording rules and alerts.
///
/// ```
/// let yaml = plugobs_cli::rules_yaml(&plugobs_cli::Config::default()).unwrap();
/// assert!(yaml.contains("alert: \"PlugobsPluginLoadFailed\""));
/// ```
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a rule names a metric plugobs does not emit.
pub fn rules_yaml(config: &Config) -> Result<String, OpsError> {
    Ok(yaml::write(&rules::groups(config)?))
}

/// The Grafana dashboard, as pretty JSON.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a panel names a metric plugobs does not emit.
pub fn dashboard_json(config: &Config) -> Result<String, OpsError> {
    let value = dashboard::json(config)?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")))
}

/// Alertmanager's `inhibit_rules:` block for the alerts ([`alertmanager`]).
///
/// ```
/// let yaml = plugobs_cli::inhibit_rules_yaml(&plugobs_cli::Config::default()).unwrap();
/// assert!(yaml.contains(r#"- "alertname=\"PlugobsErrorBudgetBurnFast\"""#));
/// ```
///
/// # Errors
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn inhibit_rules_yaml(config: &Config) -> Result<String, OpsError> {
    alertmanager::yaml(config)
}

/// The target label [`prometheus_config`] keeps the scraped address (`host:port`) in,
/// since plugobs' own `instance` label takes the place of Prometheus's.
pub const HOST_LABEL: &str = "host";

/// A minimal Prometheus configuration that scrapes each of `targets` (`host:port`, path
/// `/metrics`) every `scrape_interval` and loads the rule file `rules_path`.
///
/// The job has `honor_labels: true`, so plugobs' `instance` label (the configured
/// instance of a plugin, which the rules group by) is kept as it is, instead of being
/// renamed `exported_instance` because Prometheus's target label `instance` has the same
/// name. A relabeling copies each target's address to the label `host` ([`HOST_LABEL`]),
/// so two hosts running an instance of the same name stay two series, and every alert
/// names its host. Series without plugobs' `instance` (`plugobs_plugins`, `process_*`,
/// `up`) still get Prometheus's `instance` = the address.
///
/// ```
/// let yml = plugobs_cli::prometheus_config(&["10.0.0.1:9464", "10.0.0.2:9464"], "1s", "plugobs.rules.yml");
/// assert!(yml.contains(r#"targets: ["10.0.0.1:9464", "10.0.0.2:9464"]"#));
/// assert!(yml.contains("honor_labels: true"));
/// assert!(yml.contains(r#"target_label: "host""#));
/// ```
pub fn prometheus_config(targets: &[&str], scrape_interval: &str, rules_path: &str) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let targets: Vec<String> = targets.iter().map(|t| q(t)).collect();
    format!(
        "global:\n  scrape_interval: {si}\n  evaluation_interval: {si}\nrule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: \"plugobs\"\n    metrics_path: \"/metrics\"\n    \
         # plugobs' own `instance` label wins over the target's (host:port), which\n    \
         # is kept in `{host}` instead: see plugobs-cli's docs and docs/operating.md.\n    \
         honor_labels: true\n    \
         relabel_configs:\n      - source_labels: [\"__address__\"]\n        \
         target_label: {host_q}\n    \
         static_configs:\n      - targets: [{targets}]\n",
        si = q(scrape_interval),
        rules = q(rules_path),
        targets = targets.join(", "),
        host = HOST_LABEL,
        host_q = q(HOST_LABEL),
    )
}
