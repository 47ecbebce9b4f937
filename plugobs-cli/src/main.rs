//! `plugobs-cli`: writes plugobs' Prometheus rules, Grafana dashboard, Alertmanager
//! inhibitions or a Prometheus configuration to standard output.
//!
//! Exit status: 0 on success, 1 when generating or writing failed, 2 for a bad command
//! line or setting.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use plugobs_cli::Config;

const AFTER_HELP: &str = "\
Settings (--set KEY=VALUE, repeatable; `plugobs-cli settings` lists them with their values):
  selector='job=\"pipeline\"'   label matchers added to every series read
  host_labels=job,host        labels that identify a host, kept by every aggregation
  runbook_base=URL            runbook_url = URL#alertname-in-lower-case
  objective=0.999             success objective of operations declaring none
  min_calls=20                fewest calls for a ratio alert

Exit status: 0 success, 1 generating or writing failed, 2 bad command line or setting.";

/// Prometheus rules, a Grafana dashboard and Alertmanager inhibitions for plugobs,
/// generated from its closed metric list.
#[derive(Parser)]
#[command(name = "plugobs-cli", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prometheus alert and recording rules (YAML), for Prometheus's rule_files.
    #[command(after_help = AFTER_HELP)]
    Rules(Settings),
    /// The Grafana dashboard (JSON, schema 39), to import.
    #[command(after_help = AFTER_HELP)]
    Dashboard(Settings),
    /// Alertmanager's inhibit_rules block (YAML) for the alerts.
    #[command(after_help = AFTER_HELP)]
    InhibitRules(Settings),
    /// A Prometheus configuration scraping TARGETs' /metrics with honor_labels and a
    /// `host` label per target, loading the rule file.
    PrometheusConfig {
        /// The rule file Prometheus loads.
        #[arg(long, value_name = "PATH", default_value = "plugobs.rules.yml")]
        rules: String,
        /// Scrape and evaluation interval.
        #[arg(long, value_name = "DURATION", default_value = "15s")]
        scrape_interval: String,
        /// Targets to scrape, host:port.
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// Every setting with its value (after any --set), one key=value a line.
    #[command(after_help = AFTER_HELP)]
    Settings(Settings),
}

#[derive(Args)]
struct Settings {
    /// A setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    set: Vec<(String, String)>,
}

fn key_value(arg: &str) -> Result<(String, String), String> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("`{arg}`: expected KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

enum Failure {
    /// A bad setting: exit 2.
    Usage(String),
    /// Generating failed: exit 1.
    Generate(String),
}

impl Settings {
    fn config(&self) -> Result<Config, Failure> {
        let mut config = Config::default();
        for (key, value) in &self.set {
            config
                .set(key, value)
                .map_err(|e| Failure::Usage(e.to_string()))?;
        }
        Ok(config)
    }
}

fn run(command: &Command) -> Result<String, Failure> {
    let generated = |r: Result<String, plugobs_cli::OpsError>| {
        r.map_err(|e| match e {
            plugobs_cli::OpsError::UnknownMetric { .. } => Failure::Generate(e.to_string()),
            _ => Failure::Usage(e.to_string()),
        })
    };
    match command {
        Command::Rules(s) => generated(plugobs_cli::rules_yaml(&s.config()?)),
        Command::Dashboard(s) => generated(plugobs_cli::dashboard_json(&s.config()?)),
        Command::InhibitRules(s) => generated(plugobs_cli::inhibit_rules_yaml(&s.config()?)),
        Command::PrometheusConfig {
            rules,
            scrape_interval,
            targets,
        } => {
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            Ok(plugobs_cli::prometheus_config(
                &targets,
                scrape_interval,
                rules,
            ))
        }
        Command::Settings(s) => Ok(s.config()?.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.command) {
        Ok(mut out) => {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("plugobs-cli: writing the output: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(Failure::Usage(e)) => {
            eprintln!("plugobs-cli: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Generate(e)) => {
            eprintln!("plugobs-cli: {e}");
            ExitCode::from(1)
        }
    }
}
