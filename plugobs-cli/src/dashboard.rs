//! The Grafana dashboard: a datasource variable, one variable per host label (`$job`,
//! `$host`), a `plugin` variable and an `instance` variable (the configured instances of
//! the selected plugins); a top row of stat panels saying what is broken now (instances
//! failed, unhealthy, operations over their error ratio, the worst error-budget burn);
//! health as a state timeline; a table of the worst operations; and one time-series panel
//! per question an operator asks (lifecycle states, load and start time, calls, errors,
//! latency, calls in flight, what the process uses). Every query carries the `selector`
//! setting and the host variables, every per-plugin query the plugin and instance
//! variables too; every legend names the host; every panel has a description.

use serde_json::{Value, json};

use crate::OpsError;
use crate::config::Config;
use crate::names::{Names, PROCESS};
use crate::rules::{quantile_label, secs};
use crate::scope::Scope;

/// How a panel draws its queries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stat,
    StateTimeline,
    /// A state timeline of circuit breakers: closed, half-open, open.
    BreakerTimeline,
    Table,
    TimeSeries,
}

/// One panel: title, description, kind, unit and its queries (expression, legend).
struct Panel {
    title: &'static str,
    description: String,
    kind: Kind,
    unit: &'static str,
    queries: Vec<(String, String)>,
}

fn panels(config: &Config) -> Result<Vec<Panel>, OpsError> {
    let sc = Scope::new(config)?;
    let n = Names::new(&config.namespace);
    let host_vars: Vec<String> = sc
        .host_labels()
        .iter()
        .map(|l| format!(r#"{l}=~"${l}""#))
        .collect();
    let hf = host_vars.join(",");
    let pf = if hf.is_empty() {
        r#"plugin=~"$plugin",instance=~"$instance""#.to_owned()
    } else {
        format!(r#"{hf},plugin=~"$plugin",instance=~"$instance""#)
    };
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a},{b}"),
    };
    // Host-level series (filtered by the host variables) and per-plugin ones.
    let h = |metric: &str, matchers: &str| sc.series(metric, &join(matchers, &hf));
    let p = |metric: &str, matchers: &str| sc.series(metric, &join(matchers, &pf));
    let legend = sc.legend();
    let l = |rest: &str| {
        if legend.is_empty() {
            rest.to_owned()
        } else {
            format!("{legend} {rest}")
        }
    };
    let host = sc.keys(&[]);
    let pki = sc.keys(&["plugin", "kind", "instance"]);
    let by_pi = sc.keys(&["plugin", "instance"]);
    let by_op = sc.keys(&["plugin", "instance", "operation"]);
    let w = &config.rate_window;
    let ops = n.metric("plugin_operations_total")?;
    let breaker = n.metric("plugin_circuit_breaker_state")?;
    let load = n.metric("plugin_load_duration_seconds")?;
    let start = n.metric("plugin_start_duration_seconds")?;
    let health = n.metric("plugin_health")?;
    let up = n.metric("plugin_up")?;
    let failures = n.metric("plugin_load_failures_total")?;
    let ratio = n.record("operation_error_ratio", &format!("rate{w}"));
    let calls = n.record("operation_calls", &format!("increase{w}"));
    let fast_window = secs(3600.0 * config.burn_window_scale);
    let ratio_fast = n.record("operation_error_ratio", &format!("rate{fast_window}"));
    let budget = n.record("operation_error_budget", "ratio");
    let q = |label: &str| n.record("operation_latency_seconds", &format!("{label}_{w}"));
    let who = "{{plugin}}/{{instance}}";
    let op = "{{plugin}}/{{instance}}.{{operation}}";
    let mut latency = Vec::new();
    let mut quantiles = vec![0.5, 0.9, 0.99];
    if !quantiles.contains(&config.latency_quantile) {
        quantiles.push(config.latency_quantile);
    }
    for quantile in quantiles {
        let label = quantile_label(quantile);
        latency.push((p(&q(&label), ""), l(&format!("{op} {label}"))));
    }
    // The judged quantile once more, from the raw buckets: exemplars are kept on bucket
    // series (OpenMetrics, Prometheus' exemplar storage), not on recorded ones, so this
    // target is the one Grafana asks for the exemplars that lead to a slow trace.
    let buckets = format!("{}_bucket", n.metric("plugin_operation_duration_seconds")?);
    latency.push((
        format!(
            "histogram_quantile({}, sum by ({by_op}, le) (rate({}[$__rate_interval])))",
            config.latency_quantile,
            p(&buckets, "")
        ),
        l(&format!(
            "{op} {} (exemplars)",
            quantile_label(config.latency_quantile)
        )),
    ));
    Ok(vec![
        Panel {
            title: "Instances failed",
            description: format!(
                "Plugin instances whose configuration, constructor or start hook failed and \
                 that are not up now ({failures} by stage load|start, and {up} = 0). \
                 Alert: PlugobsPluginLoadFailed."
            ),
            kind: Kind::Stat,
            unit: "none",
            queries: vec![(
                format!(
                    "count((sum by ({pki}) ({}) > 0) and on ({pki}) ({} == 0)) or vector(0)",
                    p(&failures, r#"stage=~"load|start""#),
                    p(&up, "")
                ),
                "failed".to_owned(),
            )],
        },
        Panel {
            title: "Instances unhealthy",
            description: format!(
                "Plugin instances whose health is unhealthy now ({health}{{status=\"unhealthy\"}}). \
                 Alert: PlugobsPluginUnhealthy."
            ),
            kind: Kind::Stat,
            unit: "none",
            queries: vec![(
                format!(
                    "count({} == 1) or vector(0)",
                    p(&health, r#"status="unhealthy""#)
                ),
                "unhealthy".to_owned(),
            )],
        },
        Panel {
            title: "Operations over their error ratio",
            description: format!(
                "Operations whose error ratio over {w} is above {} with at least {} calls: \
                 what PlugobsOperationErrorRatioHigh fires on (before its for: delay).",
                config.error_ratio, config.min_calls
            ),
            kind: Kind::Stat,
            unit: "none",
            queries: vec![(
                format!(
                    "count({} > {} and {} >= {}) or vector(0)",
                    p(&ratio, ""),
                    config.error_ratio,
                    p(&calls, ""),
                    config.min_calls
                ),
                "operations".to_owned(),
            )],
        },
        Panel {
            title: "Worst error-budget burn",
            description: format!(
                "The highest burn rate of any operation's error budget over {fast_window}: its \
                 error ratio divided by its budget (1 - its success objective, declared in code, \
                 else {}). 1 spends the budget exactly over the period; 14.4 pages \
                 (PlugobsErrorBudgetBurnFast).",
                config.objective
            ),
            kind: Kind::Stat,
            unit: "none",
            queries: vec![(
                format!(
                    "max({} / {}) or vector(0)",
                    p(&ratio_fast, ""),
                    p(&budget, "")
                ),
                "burn".to_owned(),
            )],
        },
        Panel {
            title: "Health by instance",
            description: format!(
                "Each instance's health over time: unknown (not checked yet), healthy, degraded \
                 or unhealthy, from the state set {health}."
            ),
            kind: Kind::StateTimeline,
            unit: "none",
            queries: vec![(
                format!(
                    "max by ({by_pi}) (({} == 1) * 0 or ({} == 1) * 1 or ({} == 1) * 2 or ({} == 1) * 3)",
                    p(&health, r#"status="unknown""#),
                    p(&health, r#"status="healthy""#),
                    p(&health, r#"status="degraded""#),
                    p(&health, r#"status="unhealthy""#),
                ),
                l(who),
            )],
        },
        Panel {
            title: "Worst operations by error ratio",
            description: format!(
                "The ten operations with the highest error ratio over {w} (errors and panics \
                 over finished calls), with the host and instance they run on."
            ),
            kind: Kind::Table,
            unit: "percentunit",
            queries: vec![(format!("topk(10, {})", p(&ratio, "")), l(op))],
        },
        Panel {
            title: "Plugin instances by lifecycle state",
            description: format!(
                "Instances per lifecycle state, per host ({}). A host-level count: the \
                 state gauge has no plugin label, so the plugin and instance variables do not \
                 filter it; see Health by instance for one plugin.",
                n.metric("plugins")?
            ),
            kind: Kind::TimeSeries,
            unit: "short",
            queries: vec![(
                format!("sum by ({host}, state) ({})", h(&n.metric("plugins")?, "")),
                l("{{state}}"),
            )],
        },
        Panel {
            title: "Mean load and start time by instance",
            description: "Mean time to construct (load) and to run the start hook of each \
                          instance, from their histograms."
                .to_owned(),
            kind: Kind::TimeSeries,
            unit: "s",
            queries: vec![
                (
                    format!(
                        "{} / {}",
                        p(&format!("{load}_sum"), ""),
                        p(&format!("{load}_count"), "")
                    ),
                    l(&format!("{who} load")),
                ),
                (
                    format!(
                        "{} / {}",
                        p(&format!("{start}_sum"), ""),
                        p(&format!("{start}_count"), "")
                    ),
                    l(&format!("{who} start")),
                ),
            ],
        },
        Panel {
            title: "Calls per second by instance and operation",
            description: format!(
                "Finished calls per second, whatever their outcome ({ops}); calls a circuit \
                 breaker rejected are not among them (see Circuit breakers)."
            ),
            kind: Kind::TimeSeries,
            unit: "reqps",
            queries: vec![(
                format!(
                    "sum by ({by_op}) (rate({}[$__rate_interval]))",
                    p(&ops, r#"outcome!="rejected""#)
                ),
                l(op),
            )],
        },
        Panel {
            title: "Circuit breakers",
            description: format!(
                "The circuit breaker of each operation that has one, over time: closed, \
                 half-open (probing) or open (calls fail fast without reaching the plugin), \
                 from the state set {breaker}. Alert: PlugobsCircuitBreakerOpen."
            ),
            kind: Kind::BreakerTimeline,
            unit: "none",
            queries: vec![(
                format!(
                    "max by ({by_op}) (({} == 1) * 0 or ({} == 1) * 1 or ({} == 1) * 2)",
                    p(&breaker, r#"state="closed""#),
                    p(&breaker, r#"state="half_open""#),
                    p(&breaker, r#"state="open""#),
                ),
                l(op),
            )],
        },
        Panel {
            title: "Calls rejected by circuit breakers",
            description: format!(
                "Calls per second an open circuit breaker rejected, per operation \
                 ({ops}{{outcome=\"rejected\"}}), and its trips ({})",
                n.metric("plugin_circuit_breaker_trips_total")?
            ),
            kind: Kind::TimeSeries,
            unit: "reqps",
            queries: vec![(
                format!(
                    "sum by ({by_op}) (rate({}[$__rate_interval]))",
                    p(&ops, r#"outcome="rejected""#)
                ),
                l(op),
            )],
        },
        Panel {
            title: "Error ratio by instance and operation",
            description: format!(
                "Errors and panics over finished calls over {w} (recording rule {ratio})."
            ),
            kind: Kind::TimeSeries,
            unit: "percentunit",
            queries: vec![(p(&ratio, ""), l(op))],
        },
        Panel {
            title: "Latency quantiles by operation",
            description: format!(
                "Latency quantiles over {w} from the operation histogram (recording rules \
                 {}), and the judged quantile from its buckets with their exemplars: each \
                 point a call that landed in a bucket, linking to its trace.",
                q("pNN")
            ),
            kind: Kind::TimeSeries,
            unit: "s",
            queries: latency,
        },
        Panel {
            title: "Calls in flight",
            description: "Calls started and not finished, per operation.".to_owned(),
            kind: Kind::TimeSeries,
            unit: "short",
            queries: vec![(
                format!(
                    "sum by ({by_op}) ({})",
                    p(&n.metric("plugin_operations_in_flight")?, "")
                ),
                l(op),
            )],
        },
        Panel {
            title: "Process CPU",
            description: format!(
                "CPU time per second of each host process ({}), for the hosts selected.",
                PROCESS[0]
            ),
            kind: Kind::TimeSeries,
            unit: "percentunit",
            queries: vec![(
                format!(
                    "sum by ({host}) (rate({}[$__rate_interval]))",
                    h(PROCESS[0], "")
                ),
                l("cpu"),
            )],
        },
        Panel {
            title: "Process memory (resident)",
            description: format!(
                "Resident memory of each host process ({}), for the hosts selected.",
                PROCESS[1]
            ),
            kind: Kind::TimeSeries,
            unit: "bytes",
            queries: vec![(format!("sum by ({host}) ({})", h(PROCESS[1], "")), l("rss"))],
        },
    ])
}

/// Every panel expression, as the dashboard holds it (variables such as `$plugin`, `$job`
/// and `$__rate_interval` unexpanded): what the end-to-end test checks against live
/// series.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a panel names a metric plugobs does not emit;
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn expressions(config: &Config) -> Result<Vec<String>, OpsError> {
    Ok(panels(config)?
        .into_iter()
        .flat_map(|p| p.queries.into_iter().map(|(e, _)| e))
        .collect())
}

fn variable(name: &str, label: &str, query: String, ds: &Value) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": ds,
        "query": { "query": query, "refId": name },
        "definition": query,
        "refresh": 2,
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "current": { "text": "All", "value": "$__all" },
    })
}

fn panel_json(id: usize, p: &Panel, grid: Value, ds: &Value) -> Value {
    let instant = matches!(p.kind, Kind::Table);
    let targets: Vec<Value> = p
        .queries
        .iter()
        .enumerate()
        .map(|(j, (expr, legend))| {
            let mut t = json!({
                "datasource": ds,
                "expr": expr,
                "legendFormat": legend,
                "refId": ((b'A' + j as u8) as char).to_string(),
            });
            // Only bucket series carry exemplars: their targets ask for them.
            if expr.contains("_operation_duration_seconds_bucket") {
                t["exemplar"] = json!(true);
            }
            if instant {
                t["instant"] = json!(true);
                t["range"] = json!(false);
                t["format"] = json!("table");
            }
            t
        })
        .collect();
    let (kind, defaults, options) = match p.kind {
        Kind::Stat => (
            "stat",
            json!({
                "unit": p.unit,
                "decimals": 1,
                "color": { "mode": "thresholds" },
                "thresholds": { "mode": "absolute", "steps": [
                    { "color": "green", "value": null },
                    { "color": "red", "value": 1 },
                ]},
            }),
            json!({
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value",
            }),
        ),
        Kind::StateTimeline => (
            "state-timeline",
            json!({
                "unit": p.unit,
                "color": { "mode": "thresholds" },
                "mappings": [{ "type": "value", "options": {
                    "0": { "text": "unknown", "color": "text", "index": 0 },
                    "1": { "text": "healthy", "color": "green", "index": 1 },
                    "2": { "text": "degraded", "color": "orange", "index": 2 },
                    "3": { "text": "unhealthy", "color": "red", "index": 3 },
                }}],
                "thresholds": { "mode": "absolute", "steps": [
                    { "color": "green", "value": null },
                ]},
            }),
            json!({
                "mergeValues": true,
                "showValue": "never",
                "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
            }),
        ),
        Kind::BreakerTimeline => (
            "state-timeline",
            json!({
                "unit": p.unit,
                "color": { "mode": "thresholds" },
                "mappings": [{ "type": "value", "options": {
                    "0": { "text": "closed", "color": "green", "index": 0 },
                    "1": { "text": "half-open", "color": "orange", "index": 1 },
                    "2": { "text": "open", "color": "red", "index": 2 },
                }}],
                "thresholds": { "mode": "absolute", "steps": [
                    { "color": "green", "value": null },
                ]},
            }),
            json!({
                "mergeValues": true,
                "showValue": "never",
                "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
            }),
        ),
        Kind::Table => (
            "table",
            json!({ "unit": p.unit }),
            json!({
                "showHeader": true,
                "sortBy": [{ "displayName": "Value", "desc": true }],
            }),
        ),
        Kind::TimeSeries => (
            "timeseries",
            json!({ "unit": p.unit }),
            json!({ "legend": { "displayMode": "list", "placement": "bottom" } }),
        ),
    };
    let mut panel = json!({
        "id": id,
        "type": kind,
        "title": p.title,
        "description": p.description,
        "datasource": ds,
        "gridPos": grid,
        "fieldConfig": { "defaults": defaults, "overrides": [] },
        "options": options,
        "targets": targets,
    });
    if p.kind == Kind::Table {
        panel["transformations"] = json!([{
            "id": "organize",
            "options": { "excludeByName": { "Time": true, "__name__": true } },
        }]);
    }
    panel
}

/// The dashboard as Grafana JSON (schema 39), ready to import.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a panel names a metric plugobs does not emit;
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn json(config: &Config) -> Result<Value, OpsError> {
    let ds = json!({ "type": "prometheus", "uid": "${datasource}" });
    let sc = Scope::new(config)?;
    let names = Names::new(&config.namespace);
    // `plugins` has a series per host whatever runs; `plugin_info` describes plugin types
    // (no `instance`); `plugin_up` has one series per instance, whatever its state.
    let plugins = names.metric("plugins")?;
    let info = names.metric("plugin_info")?;
    let up = names.metric("plugin_up")?;
    let mut vars = vec![json!({
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
    })];
    let mut chained: Vec<String> = Vec::new();
    for label in sc.host_labels() {
        let query = format!(
            "label_values({}, {label})",
            sc.series(&plugins, &chained.join(","))
        );
        vars.push(variable(label, label, query, &ds));
        chained.push(format!(r#"{label}=~"${label}""#));
    }
    let hf = chained.join(",");
    vars.push(variable(
        "plugin",
        "Plugin",
        format!("label_values({}, plugin)", sc.series(&info, &hf)),
        &ds,
    ));
    let pf = if hf.is_empty() {
        r#"plugin=~"$plugin""#.to_owned()
    } else {
        format!(r#"{hf},plugin=~"$plugin""#)
    };
    vars.push(variable(
        "instance",
        "Instance",
        format!("label_values({}, instance)", sc.series(&up, &pf)),
        &ds,
    ));
    let mut out = Vec::new();
    let (mut x, mut y) = (0, 0);
    for (i, p) in panels(config)?.iter().enumerate() {
        let (w, h) = match p.kind {
            Kind::Stat => (6, 4),
            Kind::StateTimeline | Kind::BreakerTimeline | Kind::Table => (24, 8),
            Kind::TimeSeries => (12, 8),
        };
        if x + w > 24 {
            x = 0;
            y += 8;
        }
        out.push(panel_json(
            i + 1,
            p,
            json!({ "h": h, "w": w, "x": x, "y": y }),
            &ds,
        ));
        x += w;
        if x >= 24 {
            x = 0;
            y += h;
        }
    }
    Ok(json!({
        "title": "plugobs",
        "uid": format!("{}-plugins", config.namespace),
        "tags": ["plugobs", "plugins"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": vars },
        "panels": out,
    }))
}
