//! A minimal writer for Prometheus rule files. Every scalar is written as a JSON string,
//! which is a valid YAML double-quoted scalar, so no value (an expression with `{`, `:` or
//! `#`, a template with `{{ }}`) needs YAML-specific escaping.

use std::fmt::Write as _;

/// A rule: an alert or a recording rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// `record: name` / `expr:`.
    Record {
        /// The recorded series' name.
        name: String,
        /// The PromQL expression.
        expr: String,
    },
    /// `alert: name` / `expr:` / `for:` / `labels:` / `annotations:`.
    Alert {
        /// The alert's name.
        name: String,
        /// The PromQL expression; every series it returns is an alert.
        expr: String,
        /// How long the expression must hold before the alert fires.
        for_: String,
        /// The `severity` label: `critical` (page) or `warning` (ticket).
        severity: &'static str,
        /// One line.
        summary: String,
        /// What it means and what to do, with `{{ $labels.plugin }}` and
        /// `{{ $labels.instance }}` templates.
        description: String,
        /// Where the runbook says what to do: `runbook_base#anchor`.
        runbook_url: String,
    },
}

/// A named group of rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Its rules, evaluated in order.
    pub rules: Vec<Rule>,
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The rule file: `groups:` with each group's rules.
pub fn write(groups: &[Group]) -> String {
    let mut out = String::from("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", q(&g.name));
        out.push_str("    rules:\n");
        for r in &g.rules {
            match r {
                Rule::Record { name, expr } => {
                    let _ = writeln!(out, "      - record: {}", q(name));
                    let _ = writeln!(out, "        expr: {}", q(expr));
                }
                Rule::Alert {
                    name,
                    expr,
                    for_,
                    severity,
                    summary,
                    description,
                    runbook_url,
                } => {
                    let _ = writeln!(out, "      - alert: {}", q(name));
                    let _ = writeln!(out, "        expr: {}", q(expr));
                    let _ = writeln!(out, "        for: {}", q(for_));
                    out.push_str("        labels:\n");
                    let _ = writeln!(out, "          severity: {}", q(severity));
                    out.push_str("        annotations:\n");
                    let _ = writeln!(out, "          summary: {}", q(summary));
                    let _ = writeln!(out, "          description: {}", q(description));
                    let _ = writeln!(out, "          runbook_url: {}", q(runbook_url));
                }
            }
        }
    }
    out
}
