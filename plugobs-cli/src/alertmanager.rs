//! Alertmanager inhibitions that go with the rules: `plugobs-cli inhibit-rules` writes
//! them as an `inhibit_rules:` block to paste into (or merge with) Alertmanager's
//! configuration.
//!
//! - The fast burn of an operation's error budget inhibits its slow burn (one page, not a
//!   page and a ticket).
//! - A failed load or start of an instance inhibits the alerts of that instance's
//!   operations (error ratio, slowness, both burn rates): the failure is the news.
//! - A target that is no longer scraped inhibits "no plugin running" of that target.
//!
//! Each rule's `equal` lists the host labels and the labels that identify what both
//! alerts are about, so an inhibition never crosses hosts or instances.

use crate::OpsError;
use crate::config::Config;
use crate::scope::Scope;

/// One Alertmanager inhibit rule: alerts named in `targets` are muted while an alert
/// named in `sources` fires with the same values of the `equal` labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InhibitRule {
    /// Alert names that inhibit.
    pub sources: Vec<&'static str>,
    /// Alert names that are inhibited.
    pub targets: Vec<&'static str>,
    /// Labels whose values must be equal in source and target.
    pub equal: Vec<String>,
}

/// The inhibit rules for `config`'s host labels.
///
/// ```
/// let rules = plugobs_cli::alertmanager::inhibit_rules(&plugobs_cli::Config::default()).unwrap();
/// assert_eq!(rules[0].sources, ["PlugobsErrorBudgetBurnFast"]);
/// assert_eq!(rules[0].targets, ["PlugobsErrorBudgetBurnSlow"]);
/// ```
///
/// # Errors
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn inhibit_rules(config: &Config) -> Result<Vec<InhibitRule>, OpsError> {
    let sc = Scope::new(config)?;
    let equal = |rest: &[&str]| -> Vec<String> {
        sc.host_labels()
            .iter()
            .cloned()
            .chain(rest.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    Ok(vec![
        InhibitRule {
            sources: vec!["PlugobsErrorBudgetBurnFast"],
            targets: vec!["PlugobsErrorBudgetBurnSlow"],
            equal: equal(&["plugin", "kind", "instance", "operation"]),
        },
        InhibitRule {
            sources: vec!["PlugobsPluginLoadFailed"],
            targets: vec![
                "PlugobsOperationErrorRatioHigh",
                "PlugobsOperationSlow",
                "PlugobsErrorBudgetBurnFast",
                "PlugobsErrorBudgetBurnSlow",
            ],
            equal: equal(&["plugin", "kind", "instance"]),
        },
        InhibitRule {
            sources: vec!["PlugobsTargetDown"],
            targets: vec!["PlugobsNoPluginRunning"],
            equal: equal(&[]),
        },
    ])
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn matcher(names: &[&str]) -> String {
    match names {
        [one] => format!("alertname={}", q(one)),
        many => format!("alertname=~{}", q(&many.join("|"))),
    }
}

/// The inhibit rules as Alertmanager YAML: an `inhibit_rules:` block.
///
/// ```
/// let yaml = plugobs_cli::inhibit_rules_yaml(&plugobs_cli::Config::default()).unwrap();
/// assert!(yaml.contains("\ninhibit_rules:\n  - source_matchers:\n"));
/// ```
///
/// # Errors
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn yaml(config: &Config) -> Result<String, OpsError> {
    let mut out = String::from(
        "# Alertmanager inhibitions for plugobs' alerts (plugobs-cli inhibit-rules).\n\
         inhibit_rules:\n",
    );
    for rule in inhibit_rules(config)? {
        let equal: Vec<String> = rule.equal.iter().map(|l| q(l)).collect();
        out.push_str(&format!(
            "  - source_matchers:\n      - {}\n    target_matchers:\n      - {}\n    equal: [{}]\n",
            q(&matcher(&rule.sources)),
            q(&matcher(&rule.targets)),
            equal.join(", ")
        ));
    }
    Ok(out)
}
