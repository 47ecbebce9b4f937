//! The Alertmanager inhibitions: their structure (every alert they name is generated;
//! each `equal` keeps the host labels and only labels both alerts carry) and their YAML.
//! `amtool check-config` runs on them in scripts/e2e-prometheus.sh.

use plugobs_cli::alertmanager::inhibit_rules;
use plugobs_cli::yaml::Rule;
use plugobs_cli::{Config, rules};

/// The labels an alert's series carry: from its expression's outermost `by (…)`, or all
/// of a raw series' own labels for the two alerts that read one directly.
fn alert_labels(config: &Config, name: &str) -> Vec<String> {
    let expr = rules::groups(config)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .find_map(|r| match r {
            Rule::Alert { name: n, expr, .. } if n == name => Some(expr),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} is not generated"));
    if let Some(rest) = expr.split(" by (").nth(1) {
        rest[..rest.find(')').unwrap()]
            .split(", ")
            .map(str::to_owned)
            .collect()
    } else {
        // `a > b and c` over recorded series, which keep the host labels, plugin, kind,
        // instance and operation.
        ["job", "host", "plugin", "kind", "instance", "operation"]
            .map(str::to_owned)
            .to_vec()
    }
}

#[test]
fn every_inhibition_names_generated_alerts_and_compares_labels_both_carry() {
    let config = Config::default();
    let inhibitions = inhibit_rules(&config).unwrap();
    assert_eq!(inhibitions.len(), 3);
    for rule in &inhibitions {
        assert_eq!(&rule.equal[..2], ["job", "host"], "{rule:?}");
        for alert in rule.sources.iter().chain(&rule.targets) {
            let labels = alert_labels(&config, alert);
            for label in &rule.equal {
                assert!(
                    labels.contains(label),
                    "{alert} has no `{label}` ({labels:?}) but {rule:?} compares it"
                );
            }
        }
        // An alert never inhibits itself.
        assert!(rule.sources.iter().all(|s| !rule.targets.contains(s)));
    }
    // Fast burn over slow burn of the same operation.
    assert_eq!(inhibitions[0].sources, ["PlugobsErrorBudgetBurnFast"]);
    assert_eq!(inhibitions[0].targets, ["PlugobsErrorBudgetBurnSlow"]);
    assert_eq!(
        inhibitions[0].equal,
        ["job", "host", "plugin", "kind", "instance", "operation"]
    );
    // A failed load over the operation alerts of that instance.
    assert_eq!(inhibitions[1].sources, ["PlugobsPluginLoadFailed"]);
    assert_eq!(
        inhibitions[1].targets,
        [
            "PlugobsOperationErrorRatioHigh",
            "PlugobsOperationSlow",
            "PlugobsErrorBudgetBurnFast",
            "PlugobsErrorBudgetBurnSlow"
        ]
    );
    assert_eq!(
        inhibitions[1].equal,
        ["job", "host", "plugin", "kind", "instance"]
    );
}

#[test]
fn the_yaml_is_an_inhibit_rules_block_with_the_configured_host_labels() {
    let mut config = Config::default();
    config.set("host_labels", "cluster,host").unwrap();
    assert_eq!(
        plugobs_cli::inhibit_rules_yaml(&config).unwrap(),
        r#"# Alertmanager inhibitions for plugobs' alerts (plugobs-cli inhibit-rules).
inhibit_rules:
  - source_matchers:
      - "alertname=\"PlugobsErrorBudgetBurnFast\""
    target_matchers:
      - "alertname=\"PlugobsErrorBudgetBurnSlow\""
    equal: ["cluster", "host", "plugin", "kind", "instance", "operation"]
  - source_matchers:
      - "alertname=\"PlugobsPluginLoadFailed\""
    target_matchers:
      - "alertname=~\"PlugobsOperationErrorRatioHigh|PlugobsOperationSlow|PlugobsErrorBudgetBurnFast|PlugobsErrorBudgetBurnSlow\""
    equal: ["cluster", "host", "plugin", "kind", "instance"]
  - source_matchers:
      - "alertname=\"PlugobsTargetDown\""
    target_matchers:
      - "alertname=\"PlugobsNoPluginRunning\""
    equal: ["cluster", "host"]
"#
    );
}
